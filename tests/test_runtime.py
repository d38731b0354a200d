"""Tests of mvdlib.runtime: the budget knob (``MVDLIB_BUDGET`` or the device) and the per-chapter settings."""

from __future__ import annotations

import pytest
import torch

import mvdlib.runtime
from mvdlib.runtime import BUDGET_ENV, CHAPTER_SETTINGS, budget, chapter_settings


def test_budget_follows_the_device_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    monkeypatch.setattr(mvdlib.runtime, "default_device", lambda: torch.device("cuda"))
    assert budget() == "gpu"
    monkeypatch.setattr(mvdlib.runtime, "default_device", lambda: torch.device("cpu"))
    assert budget() == "cpu"
    monkeypatch.setenv(BUDGET_ENV, "gpu")
    assert budget() == "gpu" and chapter_settings(11)["model_width"] == 1.0
    monkeypatch.setattr(mvdlib.runtime, "default_device", lambda: torch.device("cuda"))
    monkeypatch.setenv(BUDGET_ENV, " CPU ")
    assert budget() == "cpu" and chapter_settings(11)["model_width"] < 1.0


def test_budget_rejects_unknown_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUDGET_ENV, "tpu")
    with pytest.raises(ValueError, match=BUDGET_ENV):
        budget()
    with pytest.raises(ValueError, match="chapter"):
        chapter_settings(5, "cpu")
    with pytest.raises(ValueError, match="budget_name"):
        chapter_settings(3, "fast")


def test_gpu_budget_trains_more_and_chapter_11_at_the_papers_size() -> None:
    for chapter, budgets in CHAPTER_SETTINGS.items():
        assert set(budgets) == {"cpu", "gpu"} and budgets["cpu"].keys() == budgets["gpu"].keys(), chapter
        steps = [k for k in budgets["cpu"] if k.endswith("steps")]
        longer = all(budgets["gpu"][k] > budgets["cpu"][k] for k in steps)
        same = budgets["gpu"] == budgets["cpu"]  # chapters 7 and 8: the experiment is the short budget
        assert steps and (longer or (same and chapter in (7, 8))), chapter
    gpu = chapter_settings(11, "gpu")
    assert (gpu["model_width"], gpu["height"], gpu["width"], gpu["num_depths"]) == (1.0, 256, 320, 64)
    settings = chapter_settings(3, "cpu")
    settings["coarse_steps"] = 0  # a fresh copy: the table is not changed
    assert chapter_settings(3, "cpu")["coarse_steps"] == CHAPTER_SETTINGS[3]["cpu"]["coarse_steps"]
