"""Network building blocks taught in the book.

Sections: BatchNorm and initialization (chapters 6-8), FCRN up-projection (chapter 4),
MVDepthNet's blocks (chapter 10).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

# ---- BatchNorm and initialization (chapters 6-8) -----------------------------------------

# ---- FCRN up-projection (chapter 4) ------------------------------------------------------

# ---- MVDepthNet blocks (chapter 10) ------------------------------------------------------
