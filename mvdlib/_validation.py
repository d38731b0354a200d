"""Input checks for the public entrances of mvdlib, in Kornia's declarative manner.

Each check raises ``ValueError`` (or ``TypeError``) naming the argument, the expected
form, and what it got, so that a wrong call fails at the door rather than deep inside
PyTorch or Open3D. Checks run where a public function receives its input; private kernels
are unchecked.

Two kinds of check:

* *form* checks (type, number of dimensions, sizes: :func:`check_shape`, :func:`check_int`,
  :func:`check_choice`) read only metadata and always run;
* *value* checks (finite, non-negative depth, a rigid pose, the last row of ``K``) scan a
  whole tensor, and on a GPU each makes the CPU wait for the device. They run unless
  switched off, for a training loop whose inputs were checked once: set the environment
  variable ``MVDLIB_VALUE_CHECKS=0``, or use ``with value_checks(False): ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import functools
import inspect
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn, TypeVar

import numpy as np
import torch
from torch import Tensor

VALUE_CHECKS_ENV = "MVDLIB_VALUE_CHECKS"
_VALUE_CHECKS_OFF = ("0", "false", "no", "off")
_VALUE_CHECKS_ON = ("", "1", "true", "yes", "on")
# The innermost value_checks(...) context of this thread (or asyncio task); None outside any.
_value_checks: contextvars.ContextVar[bool | None] = contextvars.ContextVar("mvdlib_value_checks", default=None)


def value_checks_enabled() -> bool:
    """Whether value checks run: the innermost :func:`value_checks` context, else ``$MVDLIB_VALUE_CHECKS``.

    The context is per thread: switching checks off in a training thread leaves them on elsewhere.
    """
    inner = _value_checks.get()
    if inner is not None:
        return inner
    value = os.environ.get(VALUE_CHECKS_ENV, "1").strip().lower()
    if value in _VALUE_CHECKS_OFF:
        return False
    if value not in _VALUE_CHECKS_ON:
        raise ValueError(f"${VALUE_CHECKS_ENV} must be one of 0/1, false/true, no/yes, off/on or unset, got {value!r}")
    return True


@contextlib.contextmanager
def value_checks(enabled: bool) -> Iterator[None]:
    """Switch the value checks (finite, rigid, last row of ``K``, ...) on or off inside a ``with`` block.

    Form checks (shapes, types) always run.

    Example:
        >>> with value_checks(False):
        ...     value_checks_enabled()
        False
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be a bool, got {type(enabled).__name__}")
    token = _value_checks.set(enabled)
    try:
        yield
    finally:
        _value_checks.reset(token)


def check_shape(x: Any, spec: str, name: str) -> dict[str, int]:
    """Check a tensor's shape against a spec such as ``"B 1 H W"``; return the sizes of its letters.

    Each word of ``spec`` is a number (that size exactly), a letter or name (any size, the
    same wherever it repeats) or ``*`` (any size). Only metadata is read: no device sync.

    Example:
        >>> check_shape(torch.zeros(2, 1, 4, 5), "B 1 H W", "depth")
        {'B': 2, 'H': 4, 'W': 5}
    """
    words = spec.split()
    shape = tuple(getattr(x, "shape", ()))
    if not hasattr(x, "shape"):
        raise TypeError(f"{name} must be a tensor of shape {spec}, got {type(x).__name__}")
    if len(shape) != len(words):
        raise ValueError(f"{name} must have shape {spec} ({len(words)} dimensions), got shape {shape}")
    sizes: dict[str, int] = {}
    for word, size in zip(words, shape, strict=True):
        if word == "*":
            continue
        if word.isdigit():
            if size != int(word):
                raise ValueError(f"{name} must have shape {spec}, got shape {shape}")
        elif sizes.setdefault(word, size) != size:
            raise ValueError(f"{name} must have shape {spec} (every {word} the same), got shape {shape}")
    return sizes


def check_int(value: Any, name: str, min: int | None = None, max: int | None = None) -> int:  # noqa: A002
    """An integer (not a bool; NumPy integers accepted) in ``[min, max]``.

    Example:
        >>> check_int(3, "num_views", min=1)
        3
    """
    bounds = f" in [{'-inf' if min is None else min}, {'inf' if max is None else max}]"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer{bounds}, got {value!r}")
    if (min is not None and value < min) or (max is not None and value > max):
        raise ValueError(f"{name} must be an integer{bounds}, got {value!r}")
    return int(value)


def check_choice(value: Any, name: str, choices: Sequence[Any]) -> Any:
    """One of ``choices``.

    Example:
        >>> check_choice("relu", "activation", ("relu", "tanh"))
        'relu'
    """
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


# Tolerance for "is this rotation orthonormal": float32 poses composed a few times
# drift by ~1e-6; a real non-rigid transform (scale, shear) is off by far more.
RIGID_ATOL = 1e-3


def as_tensor(x: Any, name: str, dtype: torch.dtype | None = None) -> Tensor:
    """Convert a NumPy array, a list or a tensor to a floating tensor.

    Integer inputs become float32; floating inputs keep their dtype unless ``dtype``
    is given.
    """
    if isinstance(x, Tensor):
        t = x
    elif isinstance(x, (np.ndarray, list, tuple, float, int, np.floating, np.integer)):
        a = np.asarray(x)
        if a.dtype.kind in "biuf" and (not a.dtype.isnative or any(s < 0 for s in a.strides)):
            a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("="))  # torch takes neither
        t = torch.as_tensor(a)
    else:
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}")
    if t.is_complex():
        raise TypeError(f"{name} must hold real numbers, got {t.dtype}")
    if dtype is not None:
        return t.to(dtype)
    if not t.is_floating_point():
        t = t.to(torch.float32)
    return t


def numeric_array(x: Any, name: str, ndims: tuple[int, ...], integer: bool = False) -> np.ndarray:
    """A non-empty NumPy array of numbers (a tensor is copied to NumPy) with one of ``ndims`` dimensions."""
    a = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    kinds = (np.integer,) if integer else (np.integer, np.floating)
    if a.dtype == np.bool_ or not any(np.issubdtype(a.dtype, k) for k in kinds):
        raise TypeError(f"{name} must be an array of {'integers' if integer else 'numbers'}, got dtype {a.dtype}")
    if a.ndim not in ndims or 0 in a.shape:
        raise ValueError(
            f"{name} must be a non-empty array with {' or '.join(map(str, ndims))} dimensions, got shape {a.shape}"
        )
    return a


F = TypeVar("F", bound=Callable[..., Any])

# What an argument converted by :func:`numpy_in_out` may be. A decorated function annotates
# those parameters ``TensorLike`` (its body sees a tensor at run time) and, where callers pass
# NumPy, declares ``@overload`` signatures: NumPy in (the first converted argument given) gives
# NumPy out, a tensor in gives a tensor out.
TensorLike = Tensor | np.ndarray


def _to_numpy(result: Any) -> Any:
    if isinstance(result, Tensor):
        return result.detach().cpu().numpy()
    if isinstance(result, tuple) and not hasattr(result, "_fields"):
        return tuple(_to_numpy(r) for r in result)
    return result


def numpy_in_out(*names: str) -> Callable[[F], F]:
    """Decorator for the few notebook-facing functions that accept NumPy arrays as well as tensors.

    The arguments ``names`` may be NumPy arrays (any layout or byte order: they are copied to
    native, contiguous tensors); when the first of them that is given was a NumPy array,
    the tensors returned (alone or in a tuple) come back as NumPy arrays. The function itself
    is written for tensors only and annotated ``Tensor``.

    Example:
        >>> @numpy_in_out("x")
        ... def double(x: Tensor) -> Tensor:
        ...     return 2 * x
        >>> double(np.ones(2))
        array([2., 2.])
    """

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        for n in names:
            if n not in signature.parameters:
                raise TypeError(f"{fn.__name__} has no argument {n!r}")

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind_partial(*args, **kwargs)
            numpy_out = None
            for n in names:
                value = bound.arguments.get(n)
                if value is None:
                    continue
                if numpy_out is None:
                    numpy_out = isinstance(value, np.ndarray)
                if isinstance(value, np.ndarray):
                    bound.arguments[n] = as_tensor(value, n)
            result = fn(*bound.args, **bound.kwargs)
            return _to_numpy(result) if numpy_out else result

        return wrapper  # type: ignore[return-value]

    return decorate


def like_input(result: Tensor, reference: Any) -> Any:
    """Return ``result`` as NumPy when ``reference`` was NumPy, else as it is."""
    if isinstance(reference, np.ndarray):
        return result.detach().cpu().numpy()
    return result


def shape_str(t: Any) -> str:
    return str(tuple(getattr(t, "shape", ())))


def check_finite(t: Tensor, name: str) -> None:
    """A value check: every entry finite (skipped when value checks are off, and for meta tensors: no values)."""
    if value_checks_enabled() and t.device.type != "meta" and not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite, got NaN or inf values")


def intrinsics(K: Any, name: str = "K") -> Tensor:
    """Validate pinhole intrinsics; return them as ``B x 3 x 3`` (B = 1 for a 3 x 3 input).

    Checks: shape 3x3 or Bx3x3, finite, last row ``[0, 0, 1]``, upper triangular, positive
    focal lengths (the last two together make ``K`` invertible: ``det K = fx fy``).
    """
    t = as_tensor(K, name)
    if t.dim() not in (2, 3) or t.shape[-2:] != (3, 3):
        raise ValueError(f"{name} must be 3x3 or Bx3x3, got shape {shape_str(t)}")
    t = t.reshape(-1, 3, 3)
    if not value_checks_enabled():
        return t
    check_finite(t, name)
    last = torch.tensor([0.0, 0.0, 1.0], dtype=t.dtype, device=t.device)
    if not torch.allclose(t[:, 2, :], last.expand_as(t[:, 2, :]), atol=1e-6):
        raise ValueError(f"{name} must have last row [0, 0, 1], got {t[:, 2, :].tolist()}")
    if (t[:, 1, 0].abs() > 1e-6).any():
        raise ValueError(f"{name} must be upper triangular (K[1, 0] = 0), got K[1, 0] = {t[:, 1, 0].tolist()}")
    if (t[:, 0, 0] <= 0).any() or (t[:, 1, 1] <= 0).any():
        raise ValueError(
            f"{name} must have positive focal lengths fx, fy (else it is singular or mirrored), "
            f"got fx={t[:, 0, 0].tolist()}, fy={t[:, 1, 1].tolist()}"
        )
    return t


def rigid_pose(T: Any, name: str) -> Tensor:
    """Validate a rigid transform; return it as ``B x 4 x 4``.

    Checks: shape 4x4 or Bx4x4, finite, last row ``[0, 0, 0, 1]``, rotation block
    orthonormal with determinant +1 (to ``RIGID_ATOL``).
    """
    t = as_tensor(T, name)
    if t.dim() not in (2, 3) or t.shape[-2:] != (4, 4):
        raise ValueError(f"{name} must be 4x4 or Bx4x4, got shape {shape_str(t)}")
    t = t.reshape(-1, 4, 4)
    if not value_checks_enabled():
        return t
    check_finite(t, name)
    last = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=t.dtype, device=t.device)
    if not torch.allclose(t[:, 3, :], last.expand_as(t[:, 3, :]), atol=1e-6):
        raise ValueError(f"{name} must have last row [0, 0, 0, 1], got {t[:, 3, :].tolist()}")
    R = t[:, :3, :3].double()
    if R.shape[0] == 0:  # an empty batch is a valid (empty) batch of poses
        return t
    eye = torch.eye(3, dtype=R.dtype, device=R.device)
    orth_err = (R.transpose(1, 2) @ R - eye).abs().amax().item()
    det = torch.linalg.det(R)
    if orth_err > RIGID_ATOL or ((det - 1).abs() > RIGID_ATOL).any():
        raise ValueError(
            f"{name} must be a rigid transform (rotation with R^T R = I, det R = +1): "
            f"got max |R^T R - I| = {orth_err:.2e}, det R = {det.tolist()}"
        )
    return t


def scalar_map(x: Any, name: str) -> Tensor:
    """A one-channel map (depth, inverse depth, a prediction) as ``B x 1 x H x W``, values unchecked.

    Accepts ``H x W``, ``B x H x W`` or ``B x 1 x H x W``.
    """
    t = as_tensor(x, name)
    if t.dim() == 2:
        t = t[None, None]
    elif t.dim() == 3:
        t = t[:, None]
    elif t.dim() != 4 or t.shape[1] != 1:
        raise ValueError(f"{name} must be HxW, BxHxW or Bx1xHxW, got shape {shape_str(t)}")
    return t


def depth_map(depth: Any, name: str = "depth") -> Tensor:
    """Validate a depth map; return it as ``B x 1 x H x W``.

    Accepts ``H x W``, ``B x H x W`` or ``B x 1 x H x W``. Zero and non-finite values mark
    invalid pixels (real depth maps have holes) and are allowed; negative depth is an error.
    """
    t = scalar_map(depth, name)
    if t.shape[-1] == 0 or t.shape[-2] == 0:
        raise ValueError(f"{name} must have a non-empty image size, got shape {shape_str(t)}")
    if not value_checks_enabled():
        return t
    finite = t[torch.isfinite(t)]  # -inf, like NaN and +inf, marks a hole, not a negative depth
    if (finite < 0).any():
        raise ValueError(
            f"{name} must be non-negative (0 or non-finite marks invalid pixels), got minimum {finite.min().item():.4g}"
        )
    return t


def positive_int(value: Any, name: str) -> int:
    """A positive integer (not a bool); :func:`check_int` with ``min=1`` and the book's usual message."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def positive_float(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def batch_size(name_sizes: dict[str, int]) -> int:
    """The common batch size of several inputs, where a size of 1 broadcasts."""
    sizes = {n: b for n, b in name_sizes.items() if b != 1}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"batch sizes must agree (or be 1), got {name_sizes}")
    return next(iter(sizes.values()), 1)


class CommandLineParser(argparse.ArgumentParser):
    """The ``ArgumentParser`` of every mvdlib command: an error is one line on stderr, ``prog: error: ...``, exit 2.

    argparse prints its usage block before an error; a notebook cell or a script that runs a
    command then sees several lines for one mistake. Here the usage is left to ``--help``,
    and a message of several lines is joined into one.
    """

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message`` on one line to stderr and exit with code 2."""
        text = " ".join(line.strip() for line in str(message).splitlines() if line.strip())
        self.exit(2, f"{self.prog}: error: {text}\n")

    def fail(self, err: BaseException) -> NoReturn:
        """:meth:`error` with an exception caught while checking the arguments (its message, else its repr)."""
        self.error(str(err) or repr(err))
