"""Checkpoint files of MVDepthNet: the committed files, safe reading, config and weight checks (chapters 10-11).

A checkpoint is a dict saved with ``torch.save``: ours (``python -m mvdlib.train``) hold the
weights under ``model`` and the network's settings under ``config``; the authors'
``opensource_model.pth.tar`` holds ``state_dict`` (keys possibly prefixed ``module.`` by
``DataParallel``). This module reads and checks files and state dicts for any network; it
builds none (``mvdlib.models.mvdepthnet.load_pretrained`` builds the network from them).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mvdlib._io import verify_sha256
from mvdlib._validation import check_int
from mvdlib.conventions import NUM_DEPTHS, PAPER_SIZE
from mvdlib.resources import data_path

__all__ = [
    "CONFIG_KEYS",
    "WEIGHTS_DIGEST_KEY",
    "DEFAULT_CHECKPOINT",
    "IMAGE_ONLY_CHECKPOINT",
    "UnverifiedCheckpointWarning",
    "checked_config",
    "checkpoint_state",
    "load_weights",
    "read_checkpoint",
    "weights_digest",
    "with_weights_digest",
]

# The key under which a checkpoint written by mvdlib stores the digest of its weights and config.
WEIGHTS_DIGEST_KEY = "weights_sha256"

# The checkpoint our own `python -m mvdlib.train --preset cpu` wrote (provenance beside it).
DEFAULT_CHECKPOINT = data_path("mvdepthnet_cpu.pt")
# The same network and preset trained on the image alone (``--image-only``, zeros instead of
# the cost volume): the single-image baseline of chapter 11.
IMAGE_ONLY_CHECKPOINT = data_path("mvdepthnet_image_only_cpu.pt")

# Keys a checkpoint's ``config`` may hold, and the bounds checked before anything is built
# (width 1.0 is the paper's network; larger ones would only allocate memory to fail later).
CONFIG_KEYS = ("width", "num_depths", "align_corners", "input_size", "image_only")
MAX_WIDTH = 1.0
MAX_NUM_DEPTHS = 256
MAX_INPUT_SIDE = 4096


class UnverifiedCheckpointWarning(UserWarning):
    """A checkpoint loaded that nothing vouches for: no digest of its weights inside, no sha256 in a JSON beside it."""


def weights_digest(ckpt: dict) -> str:
    """Hex sha256 of a checkpoint's weights (``model`` or ``state_dict``: names, dtypes, shapes, bytes) and ``config``.

    Example:
        >>> a = weights_digest({"model": {"w": torch.ones(2)}})
        >>> a == weights_digest({"model": {"w": torch.ones(2)}}), a == weights_digest({"model": {"w": torch.zeros(2)}})
        (True, False)
    """
    state = ckpt.get("model", ckpt.get("state_dict", {}))
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint weights must be a dict of tensors, got {type(state).__name__}")
    h = hashlib.sha256(json.dumps(ckpt.get("config"), sort_keys=True, default=repr).encode())
    for name in sorted(state):
        t = state[name]
        if not isinstance(t, Tensor):
            raise ValueError(f"checkpoint weight {name!r} must be a tensor, got {type(t).__name__}")
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def with_weights_digest(obj: object) -> object:
    """A checkpoint dict with weights (``model`` or ``state_dict``) gets ``WEIGHTS_DIGEST_KEY``; others unchanged."""
    if isinstance(obj, dict) and isinstance(obj.get("model", obj.get("state_dict")), dict):
        return {**obj, WEIGHTS_DIGEST_KEY: weights_digest(obj)}
    return obj


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint file safely (``weights_only=True``), with clear errors and integrity checks.

    Two checks, each where it applies: a checkpoint written by mvdlib (``save_atomic``,
    ``export_checkpoint``) stores ``WEIGHTS_DIGEST_KEY``, the :func:`weights_digest` of its
    weights and config, verified here, so a copy vouches for itself; a provenance JSON beside
    the file that records a ``sha256`` is checked too (``mvdlib._io.verify_sha256``). Files
    without the digest (the authors' weights, and the committed checkpoints in ``data/``,
    written before it existed) are verified by their JSON's sha256 alone; where there is none
    either, the file loads with an :class:`UnverifiedCheckpointWarning` (the authors' released
    weights come without one; refusing them would leave chapter 10 without them). When the file's
    digest verifies but the JSON's sha256 differs (an export killed between the two writes),
    the JSON is stale: a warning, and the file loads.

    Warns:
        UnverifiedCheckpointWarning: the file stores no digest and no JSON beside it records its sha256.
    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is truncated, corrupt, differs from its own digest or its recorded
            sha256, its JSON's sha256 is malformed, or it is not a dict.
    """
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path must be a checkpoint file, but it is not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError/UnpicklingError/EOFError for damaged files
        verify_sha256(path)  # a damaged file with a recorded sha256: say so and how to restore it
        raise ValueError(
            f"checkpoint {path} could not be read: it is truncated, corrupt, or not a PyTorch checkpoint ({err})"
        ) from err
    if not isinstance(ckpt, dict):
        raise ValueError(f"checkpoint {path} must hold a dict, got {type(ckpt).__name__}")
    recorded = ckpt.get(WEIGHTS_DIGEST_KEY)
    if recorded is not None and recorded != weights_digest(ckpt):
        raise ValueError(
            f"checkpoint {path} is damaged: its weights differ from the digest stored in it ({WEIGHTS_DIGEST_KEY}); "
            "restore or re-export the file"
        )
    matched = verify_sha256(path, self_verified=recorded is not None)
    if recorded is None and not matched:
        warnings.warn(
            f"checkpoint {path} cannot be verified: it stores no digest of its weights ({WEIGHTS_DIGEST_KEY}) and "
            f"no provenance JSON with its sha256 lies beside it ({path.with_suffix('.json').name}), so a damaged copy "
            "would load unnoticed; keep the JSON beside the file, or re-save it with "
            "mvdlib.training.export.save_atomic, which adds the digest",
            UnverifiedCheckpointWarning,
            stacklevel=2,
        )
    return ckpt


def checked_config(config: object, path: Path) -> dict[str, Any]:
    """A checkpoint's model config, validated (known keys, types, ranges) before any network is built."""
    if not isinstance(config, dict):
        raise ValueError(f"checkpoint {path}: config must be a dict, got {type(config).__name__}")
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"checkpoint {path}: config has unknown keys {unknown}; known: {CONFIG_KEYS}")
    width = config.get("width", 1.0)
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width <= MAX_WIDTH:
        raise ValueError(f"checkpoint {path}: config width must be in (0, {MAX_WIDTH}], got {width!r}")
    check_int(config.get("num_depths", NUM_DEPTHS), f"checkpoint {path}: config num_depths", min=1, max=MAX_NUM_DEPTHS)
    size = config.get("input_size", PAPER_SIZE)
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        raise ValueError(f"checkpoint {path}: config input_size must be two sides in 1..{MAX_INPUT_SIDE}, got {size!r}")
    for side in size:
        check_int(side, f"checkpoint {path}: config input_size", min=1, max=MAX_INPUT_SIDE)
    for key in ("align_corners", "image_only"):
        if not isinstance(config.get(key, False), bool):
            raise ValueError(f"checkpoint {path}: config {key} must be true or false, got {config[key]!r}")
    return config


def checkpoint_state(ckpt: dict, path: Path) -> dict[str, Tensor]:
    """The weights of a checkpoint (``model`` or ``state_dict``), ``module.`` prefixes removed, checked finite."""
    state = ckpt.get("model", ckpt.get("state_dict"))
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(
            f"checkpoint {path} must contain a 'model' or 'state_dict' dict of tensors, got keys {sorted(ckpt)}"
        )
    state = {k.removeprefix("module."): v for k, v in state.items()}
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"checkpoint {path} must hold finite weights, got NaN or inf in {bad[:5]}")
    return state


def load_weights(model: nn.Module, state: dict[str, Tensor], path: Path) -> None:
    """Load ``state`` into ``model`` after checking its keys and shapes (float16 weights become the model's dtype).

    Raises:
        ValueError: keys missing or unexpected, or shapes that differ, listed (first five of each).
    """
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong:
        raise ValueError(
            f"checkpoint {path} does not match {type(model).__name__}({model.extra_repr()}): "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shapes (file vs model) {wrong[:5]}"
        )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
