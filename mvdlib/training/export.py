"""Checkpoints on disk: atomic saves, the small float16 export and its provenance JSON (chapter 11).

Every file is written through ``mvdlib._io.atomic_write`` (a temporary file beside the
target, then a rename): a reader sees the old file or the new one, never a partial one. An
exported checkpoint holds float16 weights and the network's config; the JSON beside it
records how it was trained and evaluated, and its sha256 (checked on load).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mvdlib._io import atomic_write, sha256_of
from mvdlib._validation import positive_int
from mvdlib.models.checkpoint import with_weights_digest

__all__ = [
    "FLOAT16_MAX",
    "PROVENANCE_HISTORY_POINTS",
    "export_checkpoint",
    "half_precision",
    "save_atomic",
    "save_text_atomic",
    "thin_history",
]

FLOAT16_MAX = float(torch.finfo(torch.float16).max)
# Training-loss points kept in a provenance file (the validation points are all kept).
PROVENANCE_HISTORY_POINTS = 500


def save_atomic(obj: object, path: str | Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then ``os.replace``: never a partial file.

    A checkpoint dict with weights (``model`` or ``state_dict``) is saved with the digest of its
    weights and config (``mvdlib.models.checkpoint.with_weights_digest``), which
    ``read_checkpoint`` verifies on every load.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "ckpt.pt"
        >>> save_atomic({"step": 1}, path); torch.load(path)
        {'step': 1}
    """
    saved = with_weights_digest(obj)
    atomic_write(path, lambda f: torch.save(saved, f))


def save_text_atomic(text: str, path: str | Path) -> None:
    """Write a text file atomically (``mvdlib._io.atomic_write``).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "note.txt"
        >>> save_text_atomic("hello\\n", path); path.read_text()
        'hello\\n'
    """
    atomic_write(path, lambda f: f.write(text.encode()))


def half_precision(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The float16 copy of a state dict that exported checkpoints store (integer buffers unchanged).

    Raises:
        ValueError: a floating entry is non-finite or beyond float16's range (65504), naming it.

    Example:
        >>> half = half_precision({"w": torch.ones(2), "steps": torch.tensor(3)})
        >>> half["w"].dtype, half["steps"].dtype
        (torch.float16, torch.int64)
    """
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise TypeError(f"state must be a dict of tensors (a state dict), got {type(state).__name__}")
    for k, v in state.items():
        if v.is_floating_point() and v.numel():
            if not torch.isfinite(v).all():
                raise ValueError(f"state[{k!r}] must be finite to be stored as float16, got NaN or inf")
            if v.abs().max() > FLOAT16_MAX:
                raise ValueError(
                    f"state[{k!r}] must lie within float16's range +-{FLOAT16_MAX:.0f}, got |max| {v.abs().max():.4g}"
                )
    return {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}


def thin_history(history: dict[str, list], points: int = PROVENANCE_HISTORY_POINTS) -> dict[str, list]:
    """The training history with the running train loss at most ``points`` evenly spaced steps (the last kept).

    Example:
        >>> thin_history({"step": [1, 2, 3, 4], "train_loss": [4.0, 3.0, 2.0, 1.0]}, points=2)
        {'step': [2, 4], 'train_loss': [3.0, 1.0]}
    """
    if not isinstance(history, dict) or not {"step", "train_loss"} <= set(history):
        raise ValueError(f"history must be a dict with 'step' and 'train_loss' lists, got {history!r:.80}")
    points = positive_int(points, "points")
    n = len(history["step"])
    if len(history["train_loss"]) != n:
        raise ValueError(f"history['train_loss'] must have one entry per step ({n}), got {len(history['train_loss'])}")
    every = max(1, -(-n // points))  # ceil(n / points)
    keep = sorted(set(range(n - 1, -1, -every)))
    return {
        **history,
        "step": [history["step"][i] for i in keep],
        "train_loss": [history["train_loss"][i] for i in keep],
    }


def _init_provenance(init: str | None) -> dict[str, Any] | None:
    """What a fine-tuning run started from: the file's sha256 and the provenance JSON beside it, if any.

    Exporting may overwrite the very file the run started from (``data/mvdepthnet_cpu.pt``), so
    the starting point's own provenance is copied into the new one, history thinned to its
    validation points.
    """
    if init is None:
        return None
    path = Path(init)
    if not path.is_file():
        raise ValueError(f"init checkpoint {init!r} is gone: export while the file the run started from exists")
    record: dict[str, Any] = {"path": init, "sha256": sha256_of(path)}
    beside = path.with_suffix(".json")
    if beside.is_file():
        earlier = json.loads(beside.read_text())
        earlier["history"] = {k: v for k, v in earlier.get("history", {}).items() if k.startswith("val_")}
        record["provenance"] = earlier
    return record


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def export_checkpoint(ckpt: dict[str, Any], path: str | Path, test_metrics: dict[str, Any], command: str) -> None:
    """Write a small inference checkpoint (float16 weights) and its provenance JSON beside it.

    Args:
        ckpt: a training checkpoint (see :func:`mvdlib.training.loop.train`).
        path: the ``.pt`` file to write; the provenance goes to ``path`` with ``.json``.
        test_metrics: the metrics tables to record (from :mod:`mvdlib.training.evaluate`, of the float16 weights).
        command: the command that evaluated and exported the checkpoint.
    """
    path = Path(path)
    cfg = ckpt["train_config"]
    start = _init_provenance(cfg.get("init"))  # before writing: the run may have started from ``path`` itself
    save_atomic({"model": half_precision(ckpt["model"]), "config": ckpt["config"]}, path)
    provenance = {
        "checkpoint": path.name,
        "sha256": sha256_of(path),  # checked on load (mvdlib._io.verify_sha256)
        "train_command": ckpt["command"],
        "export_command": command,
        "seed": cfg["seed"],
        "steps": ckpt["step"],
        "planned_steps": cfg["steps"],  # larger than "steps" when the run was stopped early
        "wall_time_s": round(ckpt["wall_time_s"], 1),
        "device": ckpt["device"],
        "cpu_threads": ckpt.get("cpu_threads", torch.get_num_threads()),  # the training run's
        "torch": torch.__version__,
        "git_commit": _git_commit(),
        "train_config": cfg,
        "model_config": ckpt["config"],
        "weights_dtype": "float16 (converted to float32 on load)",
        "final_val_loss": ckpt["history"]["val_loss"][-1] if ckpt["history"]["val_loss"] else None,
        "init_checkpoint": start,
        "history": thin_history(ckpt["history"]),
        "test_metrics": test_metrics,
    }
    save_text_atomic(json.dumps(provenance, indent=1) + "\n", path.with_suffix(".json"))
