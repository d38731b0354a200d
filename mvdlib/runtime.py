"""Where and how much the book computes: the device, the seeds, and the chapters' budget.

:func:`default_device` is CUDA when present, else the CPU; no module hard-codes a device.
:func:`seed_everything` seeds every generator a chapter draws from (the seed rule is
:func:`mvdlib.conventions.check_seed`).

How much work a chapter does is one knob, the *budget*, and what it implies per chapter.

``cpu`` is the budget every chapter is written for and CI runs: about a minute on a 2-core
CPU. ``gpu`` is what a CUDA device affords in a few minutes: the training chapters train
longer, and chapter 11 trains the paper's width-1.0 network at 320 x 256 (chapters 7 and 8,
whose experiments are about a short budget, keep theirs).
The budget follows :func:`default_device` and ``$MVDLIB_BUDGET`` overrides it (e.g.
``MVDLIB_BUDGET=cpu`` on a GPU for a quick run). Every step count or size that depends on
the budget is in ``CHAPTER_SETTINGS``, and a chapter reads its own with
:func:`chapter_settings`; the prose quotes the values the run used (glued), never fixed ones.
"""

from __future__ import annotations

import copy
import os
import random
from typing import Any

import numpy as np
import torch

from mvdlib.conventions import check_seed

__all__ = [
    "BUDGETS",
    "BUDGET_ENV",
    "CHAPTER_SETTINGS",
    "budget",
    "chapter_settings",
    "default_device",
    "native_bf16",
    "seed_everything",
]

BUDGETS = ("cpu", "gpu")
BUDGET_ENV = "MVDLIB_BUDGET"

# Per chapter and budget. The cpu values are the ones the chapters were written and timed
# with; the gpu values multiply the training (steps, and data where more steps would only
# repeat it) by 4-20.
CHAPTER_SETTINGS: dict[int, dict[str, dict[str, Any]]] = {
    3: {  # Eigen's coarse and fine networks: training scenes (8 views each) and steps per stage
        "cpu": {"train_scenes": 60, "coarse_steps": 1500, "fine_steps": 600},
        "gpu": {"train_scenes": 240, "coarse_steps": 6000, "fine_steps": 2400},
    },
    4: {  # the three FCRN decoders: training scenes and steps each; Eigen's two stages, about FCRN's time
        "cpu": {"train_scenes": 12, "steps": 150, "eigen_coarse_steps": 400, "eigen_fine_steps": 200},
        "gpu": {"train_scenes": 48, "steps": 1500, "eigen_coarse_steps": 4000, "eigen_fine_steps": 2000},
    },
    6: {"cpu": {"sweep_steps": 60}, "gpu": {"sweep_steps": 300}},  # learning-rate sweep, with and without BN
    # Chapters 7 and 8 measure what a fixed, short budget does (dead ReLUs after a few Adam
    # steps, the first SGD steps after each initialisation): more steps would change the
    # experiment, not sharpen it. Run under the GPU budget (on a CPU) with 200 and 60 steps,
    # BatchNorm at lr 0.1 also left 44 % of the ReLUs dead, and the too-small initialisation had
    # learned by step 60, contradicting what the chapters measure; so both budgets agree.
    7: {"cpu": {"dead_steps": 40}, "gpu": {"dead_steps": 40}},
    8: {"cpu": {"first_steps": 20}, "gpu": {"first_steps": 20}},
    11: {  # the live training run (mvdlib.train.TrainConfig fields): half its steps, then resumed
        "cpu": {
            "model_width": 0.125,
            "height": 32,
            "width": 64,
            "num_depths": 16,
            "batch_size": 2,
            "steps": 30,
            "lr_milestones": (),
            "train_scenes": 4,
            "samples_per_scene": 2,
            "val_scenes": 1,
            "test_scenes": 4,
            "val_every": 5,
            "ckpt_every": 5,
        },
        # the paper's network, resolution and planes (Wang and Shen 2018, Sec. IV-A), for a few minutes
        "gpu": {
            "model_width": 1.0,
            "height": 256,
            "width": 320,
            "num_depths": 64,
            "batch_size": 8,
            "steps": 600,
            "lr_milestones": (),
            "train_scenes": 100,
            "samples_per_scene": 8,
            "val_scenes": 4,
            "test_scenes": 8,
            "val_every": 100,
            "ckpt_every": 100,
        },
    },
    13: {"cpu": {"fine_tune_steps": 40}, "gpu": {"fine_tune_steps": 400}},  # fine-tuning with the smoothness loss
}


def default_device() -> torch.device:
    """The device chapters and scripts compute on: CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` computes bfloat16 natively, so that bfloat16 can be faster than float32 (chapter 11).

    CPU: the processor has AVX512-BF16 or AMX instructions (``torch.cpu``'s checks); without them
    oneDNN emulates bfloat16, often slower than float32. CUDA: the GPU supports bfloat16
    (``torch.cuda.is_bf16_supported``, compute capability 8.0 or newer). Other device types: False.

    Args:
        device: a ``torch.device`` or its name (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
    Returns:
        True where bfloat16 runs natively.

    Example:
        >>> native_bf16("cpu") in (True, False)
        True
    """
    if not isinstance(device, (torch.device, str)):
        raise TypeError(f"device must be a torch.device or its name, got {type(device).__name__}")
    try:
        device = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"device must name a device (cpu, cuda, cuda:1), got {device!r}") from err
    if device.type == "cpu":
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device} is not available (torch.cuda.is_available() is False)")
        with torch.cuda.device(device):
            return bool(torch.cuda.is_bf16_supported())
    return False


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's random generators (CPU and CUDA).

    Args:
        seed: an integer in ``[0, 2**32)`` (:func:`mvdlib.conventions.check_seed`).
    """
    seed = check_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 -- seeds the legacy global generator readers use
    torch.manual_seed(seed)  # seeds CUDA too


def budget() -> str:
    """``"gpu"`` when :func:`default_device` is CUDA, else ``"cpu"``; ``$MVDLIB_BUDGET`` wins."""
    value = os.environ.get(BUDGET_ENV, "").strip().lower()
    if not value:
        return "gpu" if default_device().type == "cuda" else "cpu"
    if value not in BUDGETS:
        raise ValueError(f"${BUDGET_ENV} must be one of {BUDGETS} or unset, got {os.environ[BUDGET_ENV]!r}")
    return value


def chapter_settings(chapter: int, budget_name: str | None = None) -> dict[str, Any]:
    """The step counts and sizes of one chapter under a budget (default: :func:`budget`).

    Args:
        chapter: a chapter number with settings, a key of ``CHAPTER_SETTINGS``.
        budget_name: ``"cpu"`` or ``"gpu"``; ``None`` for the current :func:`budget`.
    Returns:
        A fresh dict (the caller may change it), with the budget's name under ``"budget"``.
    """
    if chapter not in CHAPTER_SETTINGS:
        raise ValueError(f"chapter must be one of {sorted(CHAPTER_SETTINGS)}, got {chapter!r}")
    name = budget() if budget_name is None else budget_name
    if name not in BUDGETS:
        raise ValueError(f"budget_name must be one of {BUDGETS} or None, got {budget_name!r}")
    return {"budget": name, **copy.deepcopy(CHAPTER_SETTINGS[chapter][name])}
