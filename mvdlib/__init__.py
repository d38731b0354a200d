"""mvdlib: the tested library behind *Learning Depth: from one image to a dense point cloud*.

Every chapter of the book imports this package; every formula the book teaches is
implemented here once and tested in ``tests/``.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from mvdlib.budgets import budget, chapter_settings

# Importing Open3D inside Jupyter prints a banner and starts its web visualizer, which the
# book never uses: switch that off for every module that imports Open3D (an explicit
# setting by the user wins). Set here because mvdlib/__init__ runs before any submodule.
os.environ.setdefault("OPEN3D_DISABLE_WEB_VISUALIZER", "true")

__version__ = "0.1.0"

__all__ = ["__version__", "budget", "chapter_settings", "default_device", "seed_everything"]


def default_device() -> torch.device:
    """The device chapters and scripts compute on: CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's random generators (CPU and CUDA).

    Args:
        seed: a non-negative integer below 2**32.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    seed = int(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 -- seeds the legacy global generator readers use
    torch.manual_seed(seed)  # seeds CUDA too
