"""Evaluate an MVDepthNet checkpoint against winner-take-all (chapter 11).

The command is ``python -m mvdlib.evaluate`` (or ``python -m mvdlib.training.evaluate``).

Both methods see the same plane-sweep cost volumes: the network reads them (with the
reference image), winner-take-all takes the arg-min plane of each pixel. Metrics are
:func:`mvdlib.metrics.depth_metrics`, pooled over every valid pixel of the split.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor

from mvdlib import cost_volume as cv
from mvdlib._io import check_writable_folder
from mvdlib._validation import CommandLineParser, check_choice
from mvdlib.classical import aggregate_cost, sgbm_depth
from mvdlib.conventions import MAX_DEPTH
from mvdlib.data.real import load_stereo_pair
from mvdlib.data.sample import Batch, Sample, collate_samples
from mvdlib.data.synthetic import SyntheticMultiViewDataset
from mvdlib.inference import PRECISIONS
from mvdlib.metrics import METRIC_NAMES, depth_metrics, hole_aware_metrics
from mvdlib.models.checkpoint import DEFAULT_CHECKPOINT, IMAGE_ONLY_CHECKPOINT, checkpoint_state, read_checkpoint
from mvdlib.models.mvdepthnet import MVDepthNet, load_pretrained
from mvdlib.runtime import default_device
from mvdlib.training.config import _model_config, config_from_dict
from mvdlib.training.export import export_checkpoint, half_precision
from mvdlib.training.loop import cost_volume_for_batch
from mvdlib.training.preflight import CHECKPOINT_SUFFIXES
from mvdlib.training.schedule import build_datasets

__all__ = [
    "compare_real_pair",
    "evaluate_checkpoint_dict",
    "evaluate_model",
    "evaluate_real_pair",
    "format_table",
    "main",
    "predict_batch",
]

MVDEPTHNET = "MVDepthNet"
IMAGE_ONLY = "image-only network"
WTA = "winner-take-all"
EVAL_SPLITS = ("val", "test")  # the synthetic splits a checkpoint can be scored on (never train)
# Depth is scored as ``predict`` returns it: no farther than the sweep's far plane
# (``conventions.MAX_DEPTH``, 50 m). The depth layer's 2 sigmoid(z) can be 0 or nearly so (a
# barely trained network; the image-only network on the real pair, whose unclamped depths
# reached thousands of metres and an abs_rel near 900 that no reader could compare); the
# planes the sweep searches end at 50 m, and so does every method's answer.
MIN_INVERSE_DEPTH = 1.0 / MAX_DEPTH  # 1/m


@torch.no_grad()
def predict_batch(
    model: MVDepthNet, batch: Sample, num_sources: int | None = None, precision: str = "fp32"
) -> dict[str, Tensor]:
    """Depth of the network and of winner-take-all on the same cost volume, B x 1 x H x W each.

    Args:
        model: the network (eval mode).
        batch: collated samples at the network's resolution (:func:`mvdlib.training.loop.cost_volume_for_batch`).
        num_sources: use only the first ``num_sources`` measurement frames (default: all).
        precision: ``"fp32"`` or ``"bf16"`` (the network under bfloat16 autocast, as
            ``mvdlib.inference.predict(..., precision="bf16")``; the cost volume stays float32).
    Returns:
        ``{"MVDepthNet" or "image-only network": depth, "winner-take-all": depth}``.
    Raises:
        ValueError: the network's output is NaN or inf somewhere (the pixels counted).
    """
    check_choice(precision, "precision", PRECISIONS)
    if num_sources is not None:
        batch = batch.copy()
        batch["src_images"] = batch["src_images"][:, :num_sources]
        batch["T_world_srcs"] = batch["T_world_srcs"][:, :num_sources]
    ref, cost, inv_depths = cost_volume_for_batch(batch, model.num_depths)
    with torch.autocast(ref.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        inv = model(ref, cost)[0].float()  # an image_only network ignores the volume
    non_finite = int((~torch.isfinite(inv)).sum())
    if non_finite:
        raise ValueError(
            f"model: the network produced non-finite inverse depth at {non_finite} of {inv.numel()} pixels "
            "(finite but huge weights, e.g. of a diverged run, overflow)"
        )
    inv = inv.clamp_min(MIN_INVERSE_DEPTH)
    return {IMAGE_ONLY if model.image_only else MVDEPTHNET: 1.0 / inv, WTA: 1.0 / cv.winner_take_all(cost, inv_depths)}


def _metrics(preds: dict[str, list[Tensor]], gts: list[Tensor]) -> dict[str, dict[str, float]]:
    gt = torch.cat(gts)
    return {name: depth_metrics(torch.cat(p), gt) for name, p in preds.items()}


@torch.no_grad()
def evaluate_model(
    model: MVDepthNet,
    dataset: SyntheticMultiViewDataset,
    batch_size: int = 4,
    num_sources: int | None = None,
    precision: str = "fp32",
) -> dict[str, dict[str, float]]:
    """Metrics of MVDepthNet and winner-take-all over a dataset at the network's resolution.

    Args:
        model: the network; its device is used.
        dataset: samples whose size equals ``model.input_size``.
        batch_size: samples per forward pass.
        num_sources: use only the first ``num_sources`` measurement frames (default: all).
        precision: ``"fp32"`` or ``"bf16"`` (see :func:`predict_batch`).
    Returns:
        ``{"MVDepthNet" (or "image-only network"): metrics, "winner-take-all": metrics}``.
    """
    if (dataset.height, dataset.width) != tuple(model.input_size):
        size = (dataset.height, dataset.width)
        raise ValueError(f"dataset size must equal model.input_size {model.input_size}, got {size}")
    model.eval()
    device = next(model.parameters()).device
    preds: dict[str, list[Tensor]] = {}
    gts = []
    for start in range(0, len(dataset), batch_size):
        batch = collate_samples([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))], device)
        for name, depth in predict_batch(model, batch, num_sources, precision).items():
            preds.setdefault(name, []).append(depth.cpu())
        gts.append(batch["ref_depth"].cpu())
    return _metrics(preds, gts)


@torch.no_grad()
def evaluate_real_pair(model: MVDepthNet, precision: str = "fp32") -> dict[str, dict[str, float]]:
    """Metrics of MVDepthNet and winner-take-all on the real stereo pair of ``mvdlib.data.real``.

    The pair is loaded at the network's resolution (``load_stereo_pair`` rescales ``K``);
    ``precision`` as in :func:`predict_batch`.
    """
    h, w = model.input_size
    sample = load_stereo_pair(height=h, width=w)
    device = next(model.parameters()).device
    batch = cast(Batch, {k: v[None].to(device) for k, v in sample.items() if isinstance(v, Tensor)})
    preds = predict_batch(model.eval(), batch, precision=precision)
    return _metrics({k: [v.cpu()] for k, v in preds.items()}, [batch["ref_depth"].cpu()])


# Support window of the aggregated winner-take-all row (pixels at the network's resolution).
SUPPORT_WINDOW = 5


@torch.no_grad()
def compare_real_pair(model: MVDepthNet, window: int = SUPPORT_WINDOW) -> dict[str, dict[str, float]]:
    """Learned against classical on the real stereo pair, holes counted both ways (chapter 11).

    All four methods see the pair at the network's resolution: MVDepthNet and winner-take-all
    read the same cost volume, winner-take-all with a support window reads it box-filtered
    (:func:`mvdlib.classical.aggregate_cost`), and OpenCV's StereoSGBM matches the rectified
    images over the same depth range.

    Returns:
        method -> :func:`mvdlib.metrics.hole_aware_metrics`.
    """
    h, w = model.input_size
    sample = load_stereo_pair(height=h, width=w)
    device = next(model.parameters()).device
    batch = cast(Batch, {k: v[None].to(device) for k, v in sample.items() if isinstance(v, Tensor)})
    ref, cost, inv_depths = cost_volume_for_batch(batch, model.num_depths)
    depths = {
        MVDEPTHNET: 1.0 / model.eval()(ref, cost)[0],
        WTA: 1.0 / cv.winner_take_all(cost, inv_depths),
        f"{WTA}, {window}x{window} window": 1.0 / cv.winner_take_all(aggregate_cost(cost, window), inv_depths),
    }
    as_uint8 = lambda t: t.round().clamp(0, 255).byte().permute(1, 2, 0).cpu().numpy()  # noqa: E731
    baseline = float(torch.linalg.norm(sample["T_world_srcs"][0, :3, 3] - sample["T_world_ref"][:3, 3]))
    depths["OpenCV StereoSGBM"] = torch.from_numpy(
        sgbm_depth(as_uint8(sample["ref_image"]), as_uint8(sample["src_images"][0]), float(sample["K"][0, 0]), baseline)
    )
    gt = sample["ref_depth"][0]
    return {name: hole_aware_metrics(d.reshape(gt.shape).cpu(), gt) for name, d in depths.items()}


def evaluate_checkpoint_dict(
    ckpt: dict[str, Any],
    model: MVDepthNet | None = None,
    as_exported: bool = False,
    split: str = "test",
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """The evaluation recorded in a checkpoint's provenance: a synthetic split (test) and the real pair.

    Args:
        ckpt: a training checkpoint (:func:`mvdlib.training.loop.train`) or its ``train_config``-bearing dict.
        model: the loaded network (default: built from ``ckpt``).
        as_exported: evaluate the float16-rounded weights that ``--export`` writes, so that the
            recorded metrics are those of the committed file.
        split: the synthetic split of the run's configuration, ``"val"`` or ``"test"``.
        cache_dir: the sample cache to read and write (default: ``default_cache_dir()``); the
            path stored in the checkpoint is never used, so a checkpoint cannot choose where to write.
    Returns:
        ``{"synthetic_<split>": {"samples", "metrics"}, "real_pair": {"samples", "metrics"}}``.
    """
    if split not in EVAL_SPLITS:
        raise ValueError(f"split must be one of {EVAL_SPLITS}, got {split!r}")
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("train_config"), dict):
        raise ValueError(f"ckpt must be a checkpoint dict with a 'train_config', got {type(ckpt).__name__}")
    if model is not None and not isinstance(model, MVDepthNet):
        raise TypeError(f"model must be an MVDepthNet or None, got {type(model).__name__}")
    cache = None if cache_dir is None else str(cache_dir)
    cfg = dataclasses.replace(config_from_dict(ckpt["train_config"]), cache_dir=cache)
    if model is None:
        size = (cfg.height, cfg.width)
        model = MVDepthNet(cfg.model_width, cfg.num_depths, input_size=size, image_only=cfg.image_only)
        model.load_state_dict(half_precision(ckpt["model"]) if as_exported else ckpt["model"])
    model = model.to(default_device()).eval()
    data = build_datasets(cfg)[split]
    synthetic = evaluate_model(model, data, cfg.batch_size)
    results: dict[str, Any] = {f"synthetic_{split}": {"samples": len(data), "metrics": synthetic}}
    results["real_pair"] = {"samples": 1, "metrics": evaluate_real_pair(model)}
    return results


def format_table(metrics: dict[str, dict[str, float]], title: str = "") -> str:
    """A plain-text table, one row per method, one column per metric.

    Example:
        >>> print(format_table({"WTA": dict.fromkeys(METRIC_NAMES, 0.5)}).splitlines()[0].split()[:3])
        ['method', 'abs_rel', 'sq_rel']
    """
    if not isinstance(metrics, dict) or not all(
        isinstance(row, dict) and all(m in row for m in METRIC_NAMES) for row in metrics.values()
    ):
        raise ValueError(f"metrics must map each method to a dict of {METRIC_NAMES}, got {metrics!r:.80}")
    lines = [title] if title else []
    lines.append(f"{'method':<18}" + "".join(f"{m:>10}" for m in METRIC_NAMES))
    for name, row in metrics.items():
        lines.append(f"{name:<18}" + "".join(f"{row[m]:>10.4f}" for m in METRIC_NAMES))
    return "\n".join(lines)


def _load_checkpoint(path: str | Path, as_exported: bool = False) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """(checkpoint dict, training configuration, model or None) of a training or exported checkpoint.

    Raises a ``ValueError`` naming the file when it cannot be evaluated: unreadable, NaN or inf weights, an exported
    checkpoint without its provenance JSON (or one without ``train_config``, or one whose
    ``train_config`` describes another network than its weights), or an exported
    checkpoint given for ``--export`` (which needs a training checkpoint).
    """
    ckpt = read_checkpoint(path)
    if "train_config" in ckpt:
        state = checkpoint_state(ckpt, Path(path))  # finite weights: a diverged run's NaN refused here
        if as_exported:
            half_precision(state)  # what --export writes fits float16: refused here, not after the evaluation
        return ckpt, ckpt["train_config"], None
    if as_exported:
        raise ValueError(f"--export needs a training checkpoint (one written by python -m mvdlib.train), got {path}")
    # an exported checkpoint: the provenance JSON beside it holds the training configuration
    sidecar = Path(path).with_suffix(".json")
    try:
        train_config = json.loads(sidecar.read_text())["train_config"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"checkpoint {path} holds no training configuration and its provenance {sidecar.name} "
            f"gives none ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(train_config, dict) or any(k not in train_config for k in SHARED_SETTINGS):
        raise ValueError(f"{sidecar.name}'s train_config must be a dict with {SHARED_SETTINGS}, got {train_config!r}")
    model = load_pretrained(path)
    wanted = _model_config(config_from_dict(train_config))
    wanted["input_size"] = tuple(wanted["input_size"])
    differ = {k: (getattr(model, k), v) for k, v in wanted.items() if getattr(model, k) != v}
    if differ:
        detail = ", ".join(f"{k}: weights {a!r}, JSON {b!r}" for k, (a, b) in differ.items())
        raise ValueError(f"{sidecar.name}'s train_config does not match the network in {path} ({detail})")
    return ckpt, train_config, model


def _evaluate_loaded(
    loaded: tuple[dict[str, Any], dict[str, Any], Any], as_exported: bool, split: str, cache_dir: str | None
) -> dict[str, Any]:
    ckpt, train_config, model = loaded
    if model is None:
        return evaluate_checkpoint_dict(ckpt, as_exported=as_exported, split=split, cache_dir=cache_dir)
    return evaluate_checkpoint_dict({"train_config": train_config}, model, split=split, cache_dir=cache_dir)


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same inode when both exist, else the same resolved path."""
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _check_export_path(export: str, checkpoint: str) -> None:
    """Refuse an ``--export`` whose weights or provenance JSON would overwrite the checkpoint it reads or its JSON.

    Raises:
        ValueError: ``export`` does not end in ``CHECKPOINT_SUFFIXES`` (with ``.json`` the weights and
            their JSON would be one file), or one of the two files it writes is the checkpoint read
            or a JSON beside it (through another spelling, a symbolic or a hard link too).
    """
    out = Path(export)
    if out.suffix not in CHECKPOINT_SUFFIXES:
        raise ValueError(
            f"--export {export!r} must end in {' or '.join(CHECKPOINT_SUFFIXES)} "
            f"(its provenance goes beside it as {out.with_suffix('.json').name})"
        )
    source = Path(checkpoint)
    read = {source: "the checkpoint it reads"}
    for json_path in (source.with_suffix(".json"), source.resolve().with_suffix(".json")):
        read[json_path] = "the provenance JSON of the checkpoint it reads"
    for written in (out, out.with_suffix(".json")):
        for path, what in read.items():
            if _same_file(written, path):
                raise ValueError(f"--export {export} would overwrite {path} ({what}): choose another path")


PROG = "python -m mvdlib.training.evaluate"

# Settings that must agree for two checkpoints to be compared on the same cost volumes.
SHARED_SETTINGS = ("height", "width", "num_depths", "num_sources", "val_scenes", "test_scenes", "seed")


def main(argv: list[str] | None = None, prog: str = PROG) -> dict[str, Any]:
    """Command-line entry point; ``prog`` is the command recorded in an export's provenance."""
    p = CommandLineParser(
        prog=prog,
        description="Metrics of MVDepthNet checkpoints and of winner-take-all on the same cost volumes.",
    )
    default = [str(c) for c in (DEFAULT_CHECKPOINT, IMAGE_ONLY_CHECKPOINT) if c.exists()]
    p.add_argument(
        "--checkpoint",
        nargs="+",
        default=default,
        help="training or exported checkpoints (default: the committed ones)",
    )
    p.add_argument("--split", choices=EVAL_SPLITS, default="test", help="synthetic split to score (default: test)")
    p.add_argument("--export", default=None, help="write the (single) checkpoint as float16 with provenance here")
    p.add_argument("--cache-dir", default=None, help="sample cache (default: $MVDLIB_CACHE or ~/.cache/mvdlib)")
    args = p.parse_args(argv)
    if args.export and args.split != "test":
        p.error(f"--export records the test split's metrics; drop --split {args.split}")
    if not args.checkpoint:
        p.error("no checkpoint given and none committed in data/")
    if args.export and len(args.checkpoint) != 1:
        p.error(f"--export takes exactly one --checkpoint, got {len(args.checkpoint)}")
    try:  # every file and path checked before the first (slow) evaluation: one line, exit 2
        if args.export:
            check_writable_folder(args.export, "--export")
            _check_export_path(args.export, args.checkpoint[0])
        if args.cache_dir is not None and Path(args.cache_dir).exists() and not Path(args.cache_dir).is_dir():
            raise ValueError(f"--cache-dir must be a folder, got the file {args.cache_dir!r}")
        loaded = {path: _load_checkpoint(path, args.export is not None) for path in args.checkpoint}
        first = next(iter(loaded.values()))[1]
        for path, (_, train_config, _) in loaded.items():
            if any(train_config.get(k) != first.get(k) for k in SHARED_SETTINGS):
                shared = {k: train_config.get(k) for k in SHARED_SETTINGS}
                raise ValueError(f"checkpoints must share {SHARED_SETTINGS}: {path} has {shared}")
    except (ValueError, TypeError, OSError, RuntimeError, KeyError) as err:
        p.fail(err)
    results: dict[str, Any] = {}
    try:  # a network whose output is not finite: one line, exit 2
        for one in loaded.values():
            for key, part in _evaluate_loaded(one, args.export is not None, args.split, args.cache_dir).items():
                results.setdefault(key, {"samples": part["samples"], "metrics": {}})["metrics"].update(part["metrics"])
    except ValueError as err:
        p.fail(err)
    ckpt = one[0]
    titles = {f"synthetic_{args.split}": f"synthetic {args.split} split", "real_pair": "real stereo pair"}
    for key, title in titles.items():
        part = results[key]
        print(format_table(part["metrics"], f"{title} ({part['samples']} samples)"), end="\n\n")
    if args.export:
        command = f"{prog} " + " ".join(sys.argv[1:] if argv is None else argv)
        export_checkpoint(ckpt, args.export, results, command)
        print(f"wrote {args.export} and {Path(args.export).with_suffix('.json')}")
    return results


if __name__ == "__main__":
    main()
