"""Small helpers the checks of chapters 1-6 share: read a student's answer as an array, compare.

A check compares the student's answer with the library's value and with the value each
typical mistake would give; these helpers turn an answer of the wrong kind or shape into a
:class:`~mvdlib.check._core.Hint` instead of a traceback.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mvdlib.check._core import Hint


def as_array(answer: Any, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``answer`` (NumPy array, tensor, number or nested list) as a float64 array of ``shape``."""
    if isinstance(answer, torch.Tensor):
        answer = answer.detach().cpu().numpy()
    try:
        array = np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise Hint(f"{name} should be numbers, got {type(answer).__name__}") from error
    if shape is not None and array.shape != tuple(shape):
        raise Hint(f"{name} should have shape {tuple(shape)}, got {array.shape}")
    if not np.isfinite(array).all():
        raise Hint(f"{name} contains NaN or infinite values")
    return array


def close(a: Any, b: Any, atol: float = 1e-6, rtol: float = 1e-6) -> bool:
    """True when two arrays of the same shape agree to ``atol + rtol |b|``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol, rtol=rtol))
