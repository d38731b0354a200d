"""Small tools every chapter's checks share: read a student's answer, compare it, name a mistake.

A check compares the student's answer with the library's value and with the value each
typical mistake would give; these helpers turn an answer of the wrong kind or shape into a
:class:`~mvdlib.classroom.check._core.Hint` instead of a traceback. A check must not disturb the
student's notebook, so any global randomness it needs (PyTorch's layer initialisation) runs
inside :func:`private_rng`, which restores the generator afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mvdlib.classroom.check._core import Hint


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


@contextlib.contextmanager
def private_rng(seed: int) -> Iterator[None]:
    """Run a block with PyTorch's CPU generator seeded by ``seed``, then restore the caller's state."""
    with torch.random.fork_rng(devices=[]):  # checks run on the CPU
        torch.default_generator.manual_seed(seed)
        yield


def as_answer_tensor(value: Any, name: str) -> Tensor:
    """The student's array-like answer as a float64 CPU tensor; a Hint if it is not numeric."""
    try:
        if isinstance(value, Tensor):
            return value.detach().cpu().double()
        return torch.as_tensor(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError) as error:
        raise Hint(f"{name} should be numbers (a tensor or an array), got {type(value).__name__}") from error


def as_number(value: Any, name: str) -> float:
    """The student's scalar answer as a float; a Hint if it is not one number."""
    t = as_answer_tensor(value, name)
    if t.numel() != 1:
        raise Hint(f"{name} should be one number, got {t.numel()} values")
    x = float(t.reshape(()))
    if not np.isfinite(x):
        raise Hint(f"{name} should be a finite number, got {x}")
    return x


def same_shape(got: Tensor, expected: Tensor, name: str) -> None:
    """A Hint naming both shapes unless ``got`` has ``expected``'s shape."""
    if tuple(got.shape) != tuple(expected.shape):
        raise Hint(f"{name} should have shape {tuple(expected.shape)}, got {tuple(got.shape)}")


def close(got: Any, expected: Any, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    """Whether two numbers or same-shaped arrays agree (NaNs never agree)."""
    a, b = torch.as_tensor(got, dtype=torch.float64), torch.as_tensor(expected, dtype=torch.float64)
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=rtol, atol=atol))


def diagnose(got: Any, mistakes: dict[str, Any], rtol: float = 1e-4, atol: float = 1e-6) -> None:
    """Raise the Hint of the first typical mistake whose result ``got`` equals (``{hint: result}``)."""
    for hint, result in mistakes.items():
        if close(got, result, rtol, atol):
            raise Hint(hint)
