"""The exercise checks of chapters 1-6: each passes a correct answer, names a typical mistake, sees a stub.

The correct answers are written here from the chapters' formulas, independently of the
checks' internals; each wrong answer is a mistake students make (named in the hint).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mvdlib import check
from mvdlib.check import REGISTRY
from mvdlib.check._core import FAIL, NOT_ATTEMPTED, PASS, STRICT_ENV


@pytest.fixture(autouse=True)
def _not_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STRICT_ENV, raising=False)


# ---- correct answers --------------------------------------------------------------------


def scale_k(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
    out = K.astype(float).copy()
    out[0] *= sx
    out[1] *= sy
    out[0, 2] += 0.5 * sx - 0.5
    out[1, 2] += 0.5 * sy - 0.5
    return out


def strided_k(K: np.ndarray, step: int) -> np.ndarray:
    out = K.astype(float).copy()
    out[:2] /= step
    return out


def z_rays(K: np.ndarray, h: int, w: int) -> np.ndarray:
    v, u = np.mgrid[0:h, 0:w]
    return np.linalg.solve(K, np.stack([u.ravel(), v.ravel(), np.ones(u.size)]))


def ray_length_to_depth(L: np.ndarray, K: np.ndarray) -> np.ndarray:
    return L / np.linalg.norm(z_rays(K, *L.shape), axis=0).reshape(L.shape)


def plane_depth(K: np.ndarray, R: np.ndarray, h: int, w: int, plane_z: float) -> np.ndarray:
    return (plane_z / (R @ z_rays(K, h, w))[2]).reshape(h, w)


def loss_of_scale(s: float, lam: float) -> float:
    return (1 - lam) * math.log(s) ** 2


def receptive_field(layers: list[tuple[int, int]]) -> int:
    field, jump = 1, 1
    for k, s in layers:
        field += (k - 1) * jump
        jump *= s
    return field


def taps_per_output(k: int, s: int) -> list[int]:
    return [len(range(r, k, s)) for r in range(s)]


def fast_upconv(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    xp = F.pad(x, (1, 1, 1, 1))
    out = x.new_zeros(x.shape[0], w.shape[0], 2 * x.shape[2], 2 * x.shape[3])
    for r in (0, 1):
        for c in (0, 1):
            out[..., r::2, c::2] = F.conv2d(xp[..., r:, c:], w[:, :, r::2, c::2])  # 3 taps (r = 0) or 2 (r = 1)
    return out


def berhu(e: torch.Tensor, c: float) -> torch.Tensor:
    return torch.where(e.abs() <= c, e.abs(), (e**2 + c**2) / (2 * c))


def masked_mean_downsample(target: torch.Tensor, valid: torch.Tensor, factor: int) -> torch.Tensor:
    total = F.avg_pool2d(torch.where(valid, target, 0.0), factor)
    count = F.avg_pool2d(valid.to(target.dtype), factor)
    return torch.where(count > 0, total / count.clamp(min=1e-12), 0.0)


def running_var_after(batch_vars: list[float], momentum: float) -> list[float]:
    v, out = 1.0, []
    for b in batch_vars:
        v = (1 - momentum) * v + momentum * b
        out.append(v)
    return out


def batch_norm_1d(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    mu = x.mean(0)
    return gamma * (x - mu) / torch.sqrt(((x - mu) ** 2).mean(0) + eps) + beta


# ---- typical mistakes, each with a fragment of the hint it must produce --------------------


def _keras_running_var(batch_vars: list[float], momentum: float) -> list[float]:
    v, out = 1.0, []
    for b in batch_vars:
        v = momentum * v + (1 - momentum) * b
        out.append(v)
    return out


def _fast_upconv_unshifted(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    xp = F.pad(x, (1, 1, 1, 1))
    out = x.new_zeros(x.shape[0], w.shape[0], 2 * x.shape[2], 2 * x.shape[3])
    for r in (0, 1):
        for c in (0, 1):
            out[..., r::2, c::2] = F.conv2d(xp, w[:, :, r::2, c::2])[..., : x.shape[2], : x.shape[3]]
    return out


CASES: dict[str, tuple[Callable[..., Any], Callable[..., Any], str]] = {
    "1.3": (scale_k, lambda K, sx, sy: np.diag([sx, sy, 1.0]) @ K, "like the focal lengths"),
    "1.5": (strided_k, lambda K, step: scale_k(K, 1 / step, 1 / step), "K of a resize"),
    "2.1": (ray_length_to_depth, lambda L, K: L, "the distance itself"),
    "2.3": (plane_depth, lambda K, R, h, w, z: plane_depth(K, R.T, h, w, z), "tilts the wrong way"),
    "3.2": (loss_of_scale, lambda s, lam: math.log(s) ** 2, "scale term"),
    "3.3": (receptive_field, lambda layers: 1 + sum(k - 1 for k, _ in layers), "as if every stride were 1"),
    "4.1": (taps_per_output, lambda k, s: [k // s] * s, "rounds down"),
    "4.2": (fast_upconv, _fast_upconv_unshifted, "drop the first padded row"),
    "5.1": (berhu, lambda e, c: torch.where(e.abs() <= c, e.abs(), e**2 / (2 * c)), "jumps at |e| = c"),
    "5.3": (masked_mean_downsample, lambda t, v, f: F.avg_pool2d(t * v, f), "towards 0"),
    "6.2": (running_var_after, _keras_running_var, "Keras"),
    "6.3": (
        batch_norm_1d,
        lambda x, g, b, eps: g * (x - x.mean(0)) / torch.sqrt(x.var(0) + eps) + b,
        "unbiased variance",
    ),
}


def _stub(*args: Any) -> Any: ...


@pytest.mark.parametrize("key", sorted(CASES))
def test_check_passes_the_correct_answer(key: str) -> None:
    assert REGISTRY[key](CASES[key][0]).status == PASS


@pytest.mark.parametrize("key", sorted(CASES))
def test_check_names_the_typical_mistake(key: str) -> None:
    result = REGISTRY[key](CASES[key][1])
    assert result.status == FAIL
    assert CASES[key][2] in result.message


@pytest.mark.parametrize("key", sorted(CASES))
@pytest.mark.parametrize("stub", [..., _stub], ids=["ellipsis", "function"])
def test_check_sees_the_stub(key: str, stub: Any) -> None:
    assert REGISTRY[key](stub).status == NOT_ATTEMPTED


def test_chapters_1_to_6_have_two_checks_each_reachable_from_the_package() -> None:
    for chapter in range(1, 7):
        keys = [k for k in REGISTRY if k.split(".")[0] == str(chapter)]
        assert len(keys) >= 2, f"chapter {chapter} has checks {keys}"
        for key in keys:
            assert getattr(check, f"exercise_{key.replace('.', '_')}") is REGISTRY[key]


def test_an_answer_that_raises_is_reported_not_raised() -> None:
    def broken(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
        raise KeyError("oops")

    result = check.exercise_1_3(broken)
    assert result.status == "error" and "KeyError" in result.message


def test_a_wrong_shape_is_a_hint_not_a_traceback() -> None:
    result = check.exercise_1_5(lambda K, step: K[:2])
    assert result.status == FAIL and "shape (3, 3)" in result.message
