"""Tests of mvdlib.training.evaluate: MVDepthNet and winner-take-all scored on the same cost volumes."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_training import tiny_config

from mvdlib import cost_volume as cv
from mvdlib.models.mvdepthnet import MVDepthNet
from mvdlib.training.evaluate import evaluate_checkpoint_dict, evaluate_model, format_table
from mvdlib.training.loop import train
from mvdlib.training.schedule import build_datasets


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mvdlib_cache")


class _WinnerTakeAllNet(MVDepthNet):
    """A stand-in network that outputs the winner-take-all inverse depth of its cost volume."""

    def forward(self, ref_image, cost_volume):
        return [cv.winner_take_all(cost_volume, cv.inverse_depth_samples(self.num_depths))]


def test_evaluate_model_scores_both_methods_on_the_same_cost_volumes(tmp_path, cache):
    cfg = tiny_config(tmp_path, cache)
    val = build_datasets(cfg)["val"]
    model = _WinnerTakeAllNet(width=0.125, num_depths=cfg.num_depths, input_size=(cfg.height, cfg.width))
    table = evaluate_model(model, val, batch_size=1)
    assert set(table) == {"MVDepthNet", "winner-take-all"}
    assert table["MVDepthNet"] == pytest.approx(table["winner-take-all"])
    text = format_table(table, "title")
    assert text.splitlines()[0] == "title" and "winner-take-all" in text and "abs_rel" in text
    with pytest.raises(ValueError, match="input_size"):
        evaluate_model(MVDepthNet(width=0.125, num_depths=cfg.num_depths), val)


def test_evaluate_checkpoint_dict_scores_val_or_test_but_never_train(tmp_path, cache):
    cfg = tiny_config(tmp_path, cache, steps=1)
    ckpt = train(cfg, progress=False)
    results = evaluate_checkpoint_dict(ckpt, split="val")
    assert set(results) == {"synthetic_val", "real_pair"}
    assert results["synthetic_val"]["samples"] == len(build_datasets(cfg)["val"])
    assert set(results["synthetic_val"]["metrics"]) == {"MVDepthNet", "winner-take-all"}
    with pytest.raises(ValueError, match="split must be one of"):
        evaluate_checkpoint_dict(ckpt, split="train")
