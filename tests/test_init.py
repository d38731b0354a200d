"""Tests of the package root: version, default_device, seed_everything."""

from __future__ import annotations

import importlib.metadata
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import mvdlib

ROOT = Path(__file__).resolve().parents[1]


def draw_everything() -> tuple[float, np.ndarray, torch.Tensor]:
    """One draw from each generator seed_everything is meant to seed."""
    return random.random(), np.random.rand(4), torch.rand(4)  # noqa: NPY002 -- the legacy global generator


def test_version_matches_pyproject_and_installed_metadata() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    declared = re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1)  # tomllib needs Python 3.11
    assert mvdlib.__version__ == declared
    assert importlib.metadata.version("mvdlib") == declared


def test_seed_everything_reproduces_python_numpy_and_torch() -> None:
    mvdlib.seed_everything(123)
    first = draw_everything()
    mvdlib.seed_everything(123)
    second = draw_everything()
    mvdlib.seed_everything(124)
    other = draw_everything()
    assert first[0] == second[0] and first[0] != other[0]
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[1], other[1])
    assert torch.equal(first[2], second[2])
    assert not torch.equal(first[2], other[2])


def test_seed_everything_reproduces_a_network_initialisation() -> None:
    mvdlib.seed_everything(7)
    a = torch.nn.Conv2d(3, 8, 3).weight.detach().clone()
    mvdlib.seed_everything(7)
    b = torch.nn.Conv2d(3, 8, 3).weight.detach().clone()
    assert torch.equal(a, b)


def test_seed_everything_accepts_numpy_integers_and_the_full_range() -> None:
    mvdlib.seed_everything(np.int64(5))
    x = torch.rand(1)
    mvdlib.seed_everything(5)
    assert torch.equal(x, torch.rand(1))
    mvdlib.seed_everything(2**32 - 1)


@pytest.mark.parametrize(
    ("seed", "error"), [(-1, ValueError), (2**32, ValueError), (1.5, ValueError), (True, ValueError), ("0", ValueError)]
)
def test_seed_everything_rejects_bad_seeds(seed, error) -> None:
    with pytest.raises(error, match="seed"):
        mvdlib.seed_everything(seed)


def test_default_device_is_cuda_exactly_when_available() -> None:
    device = mvdlib.default_device()
    assert isinstance(device, torch.device)
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert torch.ones(2, device=device).sum().item() == 2.0
