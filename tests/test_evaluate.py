"""Tests of mvdlib.training.evaluate: MVDepthNet and winner-take-all scored on the same cost volumes, the
cache an evaluation reads, an unwritable export refused before any work, an untrained network scored at
the far plane, and the real pair's table with its classical rows."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny_training import tiny_config

import mvdlib.training.evaluate as evaluate_module
from mvdlib import cost_volume as cv
from mvdlib.conventions import MAX_DEPTH
from mvdlib.data.sample import collate_samples
from mvdlib.data.synthetic import SyntheticMultiViewDataset
from mvdlib.models.mvdepthnet import MVDepthNet, load_pretrained
from mvdlib.training.config import config_from_dict
from mvdlib.training.evaluate import (
    MIN_INVERSE_DEPTH,
    MVDEPTHNET,
    compare_real_pair,
    evaluate_checkpoint_dict,
    evaluate_model,
    evaluate_real_pair,
    format_table,
    predict_batch,
)
from mvdlib.training.schedule import build_datasets


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


def test_evaluate_checkpoint_dict_scores_val_or_test_but_never_train(tiny_checkpoint):
    results = evaluate_checkpoint_dict(tiny_checkpoint, split="val")
    assert set(results) == {"synthetic_val", "real_pair"}
    cfg = config_from_dict(tiny_checkpoint["train_config"])
    assert results["synthetic_val"]["samples"] == len(build_datasets(cfg)["val"])
    assert set(results["synthetic_val"]["metrics"]) == {"MVDepthNet", "winner-take-all"}
    with pytest.raises(ValueError, match="split must be one of"):
        evaluate_checkpoint_dict(tiny_checkpoint, split="train")


def test_evaluate_reads_the_cache_it_is_given_not_the_stored_one(tmp_path, tiny_checkpoint):
    stored, given = Path(tiny_checkpoint["train_config"]["cache_dir"]), tmp_path / "given"
    n_stored = len(list(stored.rglob("*.npz")))  # the training run's samples only: no test split
    evaluate_checkpoint_dict(tiny_checkpoint, cache_dir=given)
    assert list(given.rglob("*.npz"))
    evaluate_checkpoint_dict(tiny_checkpoint, cache_dir=given)
    assert len(list(stored.rglob("*.npz"))) == n_stored


def test_evaluate_refuses_an_unwritable_export_before_evaluating(tmp_path, tiny_checkpoint, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = tiny_checkpoint["train_config"]["out"]
    monkeypatch.setattr(evaluate_module, "evaluate_checkpoint_dict", lambda *a, **k: pytest.fail("evaluated"))
    with pytest.raises(SystemExit):
        evaluate_module.main(["--checkpoint", out, "--export", str(blocker / "x.pt")])


def test_an_untrained_network_is_scored_not_refused() -> None:
    """A barely trained network (chapter 11's live run) whose depth layer underflows is scored at the far plane."""
    model = MVDepthNet(width=0.125, num_depths=8, input_size=(32, 64)).eval()
    with torch.no_grad():
        model.disp1[0].weight.zero_()
        model.disp1[0].bias.fill_(-100.0)  # 2 sigmoid(-100) is 0 in float32
    data = SyntheticMultiViewDataset("test", num_scenes=1, samples_per_scene=1, height=32, width=64)
    with torch.no_grad():
        depth = predict_batch(model, collate_samples([data[0]], "cpu"))[MVDEPTHNET]
    assert 1.0 / MIN_INVERSE_DEPTH == pytest.approx(MAX_DEPTH)  # scored as predict answers: the far plane
    assert torch.equal(depth, torch.full_like(depth, 1.0 / MIN_INVERSE_DEPTH))
    gt = data[0]["ref_depth"]
    far = (1.0 / MIN_INVERSE_DEPTH - gt[gt > 0]).abs() / gt[gt > 0]  # |d - g| / g with d the far plane
    assert evaluate_model(model, data)[MVDEPTHNET]["abs_rel"] == pytest.approx(far.mean().item(), rel=1e-5)


def test_real_pair_table_has_its_classical_rows():
    model = load_pretrained()
    table = compare_real_pair(model)
    assert list(table) == ["MVDepthNet", "winner-take-all", "winner-take-all, 5x5 window", "OpenCV StereoSGBM"]
    reference = evaluate_real_pair(model)  # depth_metrics on the same predictions
    for name in ("MVDepthNet", "winner-take-all"):
        assert table[name]["no_answer"] == 0.0
        assert table[name]["abs_rel_holes_fail"] == pytest.approx(reference[name]["abs_rel"], rel=1e-5)
        assert table[name]["a1_holes_fail"] == pytest.approx(reference[name]["a1"], rel=1e-5)
    sgbm = table["OpenCV StereoSGBM"]
    assert 0.0 < sgbm["no_answer"] < 1.0  # SGBM refuses some pixels and answers others
    assert sgbm["abs_rel_answered"] < sgbm["abs_rel_holes_fail"]
    window = table["winner-take-all, 5x5 window"]
    assert window["abs_rel_holes_fail"] < table["winner-take-all"]["abs_rel_holes_fail"]  # aggregation helps WTA
