"""Checks 1.3 and 9.1 accept right answers written the chapter's way (issue 21, defect 4)."""

from __future__ import annotations

import numpy as np

from mvdlib.classroom import check
from mvdlib.classroom.check._core import FAIL, PASS


def test_1_3_accepts_the_chapters_four_element_wise_formulas() -> None:
    def my_scale_intrinsics(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
        fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
        return np.array([[sx * fx, 0.0, sx * (cx + 0.5) - 0.5], [0.0, sy * fy, sy * (cy + 0.5) - 0.5], [0.0, 0.0, 1.0]])

    assert check.exercise_1_3(my_scale_intrinsics).status == PASS


def test_1_3_still_names_c_scaled_like_f() -> None:
    result = check.exercise_1_3(lambda K, sx, sy: np.diag([sx, sy, 1.0]) @ K)
    assert result.status == FAIL and "c_x and c_y like the focal lengths" in result.message


def test_9_1_accepts_sensible_roundings_and_says_close_for_a_coarse_one() -> None:
    exact = 285.0 * 0.1 * (2.0 - 0.02) / 63  # the chapter's f b (s[1] - s[0])
    assert abs(exact - 0.8957) < 1e-4
    for answer in (exact, 0.896, 0.9, 0.89):
        assert check.exercise_9_1(answer).status == PASS, answer
    coarse = check.exercise_9_1(0.93)
    assert coarse.status == FAIL and "three significant digits" in coarse.message
    gaps = check.exercise_9_1(285.0 * 0.1 * (2.0 - 0.02) / 64)
    assert gaps.status == FAIL and "63 gaps" in gaps.message
