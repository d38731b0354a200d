"""Evaluate an MVDepthNet checkpoint against winner-take-all: ``python -m mvdlib.evaluate`` (chapter 11).

Both methods see the same plane-sweep cost volumes: the network reads them (with the
reference image), winner-take-all takes the arg-min plane of each pixel. Metrics are
:func:`mvdlib.metrics.depth_metrics`, pooled over every valid pixel of the split.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mvdlib import cost_volume as cv
from mvdlib import default_device
from mvdlib.data.real import load_stereo_pair
from mvdlib.data.synthetic import SyntheticMultiViewDataset
from mvdlib.metrics import METRIC_NAMES, depth_metrics
from mvdlib.models.mvdepthnet import DEFAULT_CHECKPOINT, MVDepthNet, load_pretrained, read_checkpoint
from mvdlib.train import TrainConfig, build_datasets, collate_samples, cost_volume_for_batch, export_checkpoint

__all__ = ["evaluate_checkpoint_dict", "evaluate_model", "evaluate_real_pair", "format_table", "main"]

MVDEPTHNET = "MVDepthNet"
WTA = "winner-take-all"


@torch.no_grad()
def predict_batch(model: MVDepthNet, batch: dict[str, Tensor], num_sources: int | None = None) -> dict[str, Tensor]:
    """Depth of MVDepthNet and of winner-take-all on the same cost volume, B x 1 x H x W each.

    Args:
        model: the network (eval mode).
        batch: collated samples at the network's resolution (see ``mvdlib.train.cost_volume_for_batch``).
        num_sources: use only the first ``num_sources`` measurement frames (default: all).
    """
    if num_sources is not None:
        batch = dict(batch)
        batch["src_images"] = batch["src_images"][:, :num_sources]
        batch["T_world_srcs"] = batch["T_world_srcs"][:, :num_sources]
    ref, cost, inv_depths = cost_volume_for_batch(batch, model.num_depths)
    inv = model(ref, cost)[0]
    return {MVDEPTHNET: 1.0 / inv, WTA: 1.0 / cv.winner_take_all(cost, inv_depths)}


def _metrics(preds: dict[str, list[Tensor]], gts: list[Tensor]) -> dict[str, dict[str, float]]:
    gt = torch.cat(gts)
    return {name: depth_metrics(torch.cat(p), gt) for name, p in preds.items()}


@torch.no_grad()
def evaluate_model(
    model: MVDepthNet,
    dataset: SyntheticMultiViewDataset,
    batch_size: int = 4,
    num_sources: int | None = None,
) -> dict[str, dict[str, float]]:
    """Metrics of MVDepthNet and winner-take-all over a dataset at the network's resolution.

    Args:
        model: the network; its device is used.
        dataset: samples whose size equals ``model.input_size``.
        batch_size: samples per forward pass.
        num_sources: use only the first ``num_sources`` measurement frames (default: all).
    Returns:
        ``{"MVDepthNet": metrics, "winner-take-all": metrics}``.
    """
    if (dataset.height, dataset.width) != tuple(model.input_size):
        size = (dataset.height, dataset.width)
        raise ValueError(f"dataset size must equal model.input_size {model.input_size}, got {size}")
    model.eval()
    device = next(model.parameters()).device
    preds: dict[str, list[Tensor]] = {MVDEPTHNET: [], WTA: []}
    gts = []
    for start in range(0, len(dataset), batch_size):
        batch = collate_samples([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))], device)
        for name, depth in predict_batch(model, batch, num_sources).items():
            preds[name].append(depth.cpu())
        gts.append(batch["ref_depth"].cpu())
    return _metrics(preds, gts)


@torch.no_grad()
def evaluate_real_pair(model: MVDepthNet) -> dict[str, dict[str, float]]:
    """Metrics of MVDepthNet and winner-take-all on the real stereo pair of ``mvdlib.data.real``.

    The pair is loaded at the network's resolution (``load_stereo_pair`` rescales ``K``).
    """
    h, w = model.input_size
    sample = load_stereo_pair(height=h, width=w)
    device = next(model.parameters()).device
    batch = {k: v[None].to(device) for k, v in sample.items() if isinstance(v, Tensor)}
    preds = predict_batch(model.eval(), batch)
    return _metrics({k: [v.cpu()] for k, v in preds.items()}, [batch["ref_depth"].cpu()])


def evaluate_checkpoint_dict(ckpt: dict[str, Any], model: MVDepthNet | None = None) -> dict[str, Any]:
    """The evaluation recorded in a checkpoint's provenance: the test split and the real pair.

    Args:
        ckpt: a training checkpoint (``mvdlib.train.train``) or its ``train_config``-bearing dict.
        model: the loaded network (default: built from ``ckpt``).
    """
    cfg = TrainConfig(**{**ckpt["train_config"], "lr_milestones": tuple(ckpt["train_config"]["lr_milestones"])})
    if model is None:
        model = MVDepthNet(cfg.model_width, cfg.num_depths, input_size=(cfg.height, cfg.width))
        model.load_state_dict(ckpt["model"])
    model = model.to(default_device()).eval()
    test = build_datasets(cfg)["test"]
    results: dict[str, Any] = {
        "synthetic_test": {"samples": len(test), "metrics": evaluate_model(model, test, cfg.batch_size)}
    }
    results["real_pair"] = {"samples": 1, "metrics": evaluate_real_pair(model)}
    return results


def format_table(metrics: dict[str, dict[str, float]], title: str = "") -> str:
    """A plain-text table, one row per method, one column per metric."""
    lines = [title] if title else []
    lines.append(f"{'method':<18}" + "".join(f"{m:>10}" for m in METRIC_NAMES))
    for name, row in metrics.items():
        lines.append(f"{name:<18}" + "".join(f"{row[m]:>10.4f}" for m in METRIC_NAMES))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command-line entry point (``python -m mvdlib.evaluate``)."""
    p = argparse.ArgumentParser(
        prog="python -m mvdlib.evaluate",
        description="Metrics of an MVDepthNet checkpoint and of winner-take-all on the same cost volumes.",
    )
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="training or exported checkpoint")
    p.add_argument("--export", default=None, help="write a float16 checkpoint and its provenance JSON here")
    args = p.parse_args(argv)
    ckpt = read_checkpoint(args.checkpoint)
    if "train_config" in ckpt:
        results = evaluate_checkpoint_dict(ckpt)
    else:  # an exported checkpoint: its provenance JSON holds the training configuration
        provenance = json.loads(Path(args.checkpoint).with_suffix(".json").read_text())
        model = load_pretrained(args.checkpoint)
        results = evaluate_checkpoint_dict({"train_config": provenance["train_config"]}, model)
    for key, title in (("synthetic_test", "synthetic test split"), ("real_pair", "real stereo pair")):
        r = results[key]
        print(format_table(r["metrics"], f"{title} ({r['samples']} samples)"), end="\n\n")
    if args.export:
        if "train_config" not in ckpt:
            raise ValueError("--export needs a training checkpoint (one written by python -m mvdlib.train)")
        command = "python -m mvdlib.evaluate " + " ".join(sys.argv[1:] if argv is None else argv)
        export_checkpoint(ckpt, args.export, results, command)
        print(f"wrote {args.export} and {Path(args.export).with_suffix('.json')}")
    return results


if __name__ == "__main__":
    main()
