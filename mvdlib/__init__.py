"""mvdlib: the tested library behind *Learning Depth: from one image to a dense point cloud*.

Every chapter of the book imports this package; every formula the book teaches is
implemented here once and tested in ``tests/``. The conventions it follows (pixels, poses,
depth, tensors) are on the book's conventions page, ``book/conventions.md``, and in
:mod:`mvdlib.conventions`.
"""

from __future__ import annotations

import os

# Importing Open3D inside Jupyter prints a banner and starts its web visualizer, which the
# book never uses: switch that off for every module that imports Open3D (an explicit
# setting by the user wins). Set here because mvdlib/__init__ runs before any submodule.
os.environ.setdefault("OPEN3D_DISABLE_WEB_VISUALIZER", "true")

from typing import TYPE_CHECKING, Any  # noqa: E402

if TYPE_CHECKING:
    from mvdlib.runtime import budget, chapter_settings, default_device, seed_everything

__version__ = "0.1.0"

__all__ = ["__version__", "budget", "chapter_settings", "default_device", "seed_everything"]


def __getattr__(name: str) -> Any:
    """The runtime helpers, imported on first use: ``import mvdlib.classroom.student`` needs no torch."""
    if name in __all__:
        from mvdlib import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module 'mvdlib' has no attribute {name!r}")
