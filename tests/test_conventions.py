"""Tests of mvdlib.conventions (the rules written once) and of the validation switch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mvdlib import _validation as v
from mvdlib.conventions import as_mask, check_seed, normalize_image, valid_depth


def test_valid_depth_is_finite_and_positive_for_tensors_and_arrays() -> None:
    values = [2.0, 0.0, -1.0, np.nan, np.inf, -np.inf, 1e-30]
    expected = [True, False, False, False, False, False, True]
    assert valid_depth(torch.tensor(values)).tolist() == expected
    got = valid_depth(np.array(values))
    assert isinstance(got, np.ndarray) and got.tolist() == expected


def test_as_mask_takes_bools_and_zero_one_numbers_and_refuses_soft_masks() -> None:
    assert as_mask(np.array([[1, 0]]), (1, 2)).tolist() == [[True, False]]
    assert as_mask(torch.tensor([[True, False]]), (1, 2)).dtype == torch.bool
    with pytest.raises(ValueError, match="mask.*0 and 1"):
        as_mask([[0.3, 1.0]], (1, 2))
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 2\)"):
        as_mask([[1, 0]], (2, 2))


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True, "0", None])
def test_check_seed_refuses_what_numpy_and_torch_would_not_take(seed) -> None:
    with pytest.raises(ValueError, match="seed must be an integer in"):
        check_seed(seed)


def test_check_seed_accepts_the_whole_range() -> None:
    assert check_seed(0) == 0 and check_seed(np.uint32(2**32 - 1)) == 2**32 - 1
    np.random.default_rng(check_seed(2**32 - 1))
    torch.manual_seed(check_seed(2**32 - 1))


def test_normalize_image_is_the_originals_formula() -> None:
    rgb = torch.randint(0, 256, (2, 3, 4, 5), dtype=torch.uint8)
    torch.testing.assert_close(normalize_image(rgb), (rgb.float() - 81.0) / 35.0)


def test_check_shape_binds_letters_and_names_the_argument() -> None:
    assert v.check_shape(torch.zeros(2, 3, 4), "B * W", "x") == {"B": 2, "W": 4}
    with pytest.raises(ValueError, match=r"x must have shape N N"):
        v.check_shape(torch.zeros(2, 3), "N N", "x")
    with pytest.raises(ValueError, match=r"x must have shape B 1 H W \(4 dimensions\)"):
        v.check_shape(torch.zeros(2, 3), "B 1 H W", "x")
    with pytest.raises(TypeError, match="x must be a tensor"):
        v.check_shape([1, 2], "N", "x")


def test_check_int_and_check_choice() -> None:
    assert v.check_int(np.int64(4), "n", min=1, max=4) == 4
    for bad in (0, 5, True, 2.0, "3"):
        with pytest.raises(ValueError, match=r"n must be an integer in \[1, 4\]"):
            v.check_int(bad, "n", min=1, max=4)
    with pytest.raises(ValueError, match="mode must be one of"):
        v.check_choice("x", "mode", ("a", "b"))


def test_value_checks_switch_off_by_context_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    nan = torch.tensor([float("nan")])
    with pytest.raises(ValueError, match="finite"):
        v.check_finite(nan, "x")
    with v.value_checks(False):
        v.check_finite(nan, "x")  # skipped
        with v.value_checks(True), pytest.raises(ValueError):
            v.check_finite(nan, "x")
    monkeypatch.setenv(v.VALUE_CHECKS_ENV, "0")
    v.check_finite(nan, "x")
    v.rigid_pose(torch.eye(4) * 2, "T")  # not rigid, but unchecked
    with v.value_checks(True), pytest.raises(ValueError, match="T must"):
        v.rigid_pose(torch.eye(4) * 2, "T")
    # form checks always run
    with pytest.raises(ValueError, match="4x4"):
        v.rigid_pose(torch.eye(3), "T")


def test_value_checks_switched_off_in_one_thread_stay_on_in_another() -> None:
    import threading

    inside, outside = threading.Event(), threading.Event()
    seen = {}

    def training_thread() -> None:
        with v.value_checks(False):
            inside.set()
            outside.wait(10)
            seen["training"] = v.value_checks_enabled()

    t = threading.Thread(target=training_thread)
    t.start()
    inside.wait(10)
    seen["main"] = v.value_checks_enabled()
    outside.set()
    t.join(10)
    assert seen == {"main": True, "training": False}


def test_value_checks_are_restored_after_an_exception_and_a_bad_setting_is_refused(monkeypatch) -> None:
    with pytest.raises(RuntimeError), v.value_checks(False):
        raise RuntimeError("inside")
    assert v.value_checks_enabled()
    monkeypatch.setenv(v.VALUE_CHECKS_ENV, "maybe")
    with pytest.raises(ValueError, match="MVDLIB_VALUE_CHECKS must be one of"):
        v.value_checks_enabled()
