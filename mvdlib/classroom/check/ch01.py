"""Checks of chapter 1 (camera geometry): rescaled and strided intrinsics."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mvdlib.classroom.check._answers import as_array, close
from mvdlib.classroom.check._core import Hint, call, exercise
from mvdlib.geometry import scale_intrinsics

__all__ = ["exercise_1_3", "exercise_1_5"]


def _cameras(seed: int, trials: int = 8, skew: bool = True) -> list[np.ndarray]:
    """Random 3 x 3 intrinsics; with ``skew`` a small skew, so that every entry of K is exercised.

    Exercise 1.3 uses ``skew=False``: chapter 1 teaches K with gamma = 0, and its four element-wise
    formulas (f_x, f_y, c_x, c_y) are then a complete answer.
    """
    rng = np.random.default_rng(seed)
    cams = []
    for _ in range(trials):
        f = rng.uniform(100, 800)
        cams.append(
            np.array(
                [
                    [f, rng.uniform(-2, 2) if skew else 0.0, rng.uniform(50, 400)],
                    [0.0, f * rng.uniform(0.9, 1.1), rng.uniform(50, 300)],
                    [0, 0, 1],
                ]
            )
        )
    return cams


@exercise("1.3", passed="Your K follows pixel centres through the resize.")
def exercise_1_3(my_scale_intrinsics: Callable) -> None:
    """``my_scale_intrinsics(K, sx, sy)`` against :func:`mvdlib.geometry.scale_intrinsics`."""
    rng = np.random.default_rng(1)
    for K in _cameras(seed=0, skew=False):
        sx, sy = rng.uniform(0.1, 3.0, size=2)
        got = as_array(call(my_scale_intrinsics, K.copy(), sx, sy, name="my_scale_intrinsics"), "K'", (3, 3))
        expected = scale_intrinsics(K, sx, sy)
        if close(got, expected):
            continue
        if close(got, np.diag([sx, sy, 1.0]) @ K):
            raise Hint(
                "you scaled c_x and c_y like the focal lengths; pixel centres sit at integer "
                "coordinates, so u' + 1/2 = s_x (u + 1/2) and c_x' = s_x (c_x + 1/2) - 1/2"
            )
        if close(got, np.array([[sx, 0, 0.5 - 0.5 * sx], [0, sy, 0.5 - 0.5 * sy], [0, 0, 1]]) @ K):
            raise Hint("the half-pixel term has the wrong sign: c_x' = s_x (c_x + 1/2) - 1/2")
        if close(got, scale_intrinsics(K, sy, sx)):
            raise Hint("s_x and s_y are swapped: s_x = W'/W scales the first row (columns, u)")
        if close(got[:2, :2], expected[:2, :2]) and close(got[2], expected[2]):
            raise Hint(
                f"the focal lengths are right but the principal point is off by "
                f"{np.abs(got[:2, 2] - expected[:2, 2]).max():.3g} pixels (s_x={sx:.3f}, s_y={sy:.3f})"
            )
        raise Hint(
            f"K' differs from the resized camera by up to {np.abs(got - expected).max():.3g} "
            f"(s_x={sx:.3f}, s_y={sy:.3f}); write u' + 1/2 = s_x (u + 1/2) as a matrix S and return S K"
        )


@exercise("1.5", passed="Striding keeps pixel step * u' itself: no half-pixel term.")
def exercise_1_5(strided_intrinsics: Callable) -> None:
    """``strided_intrinsics(K, step)``: the intrinsics of ``depth[::step, ::step]``."""
    for step, K in zip((2, 3, 4, 2, 5), _cameras(seed=2, trials=5), strict=True):
        got = as_array(call(strided_intrinsics, K.copy(), step, name="strided_intrinsics"), "K'", (3, 3))
        # Pixel u' of the strided map is pixel step * u' of the original: u = step u'.
        # Independent of K's form: project a point both ways and compare.
        points = np.array([[0.3, -0.2, 2.0], [-1.0, 0.5, 4.0], [0.1, 0.7, 1.5]]).T  # 3 x N
        uv = K @ points
        expected_uv = (uv[:2] / uv[2]) / step
        got_uv = got @ points
        if abs(got[2, 2]) > 0 and close(got_uv[:2] / got_uv[2], expected_uv):
            continue
        if close(got, scale_intrinsics(K, 1 / step, 1 / step)):
            raise Hint(
                "that is the K of a resize (scale_intrinsics), whose new pixel centre lies between "
                "old pixels; striding keeps old pixel step * u' itself, so there is no half-pixel term"
            )
        if close(got, np.diag([step, step, 1.0]) @ K):
            raise Hint(f"the strided image is {step} times smaller: divide f and c by the step, do not multiply")
        raise Hint(
            f"a point that lands on pixel u of the original should land on u / {step} of the strided "
            "map; your K' puts it elsewhere"
        )
