"""Train MVDepthNet on synthetic multi-view scenes (chapter 11): the model's input, the loss, the loop.

The original code released no training code; this is ours. Adam on the multi-scale
inverse-depth L1 loss (Wang and Shen 2018, eq. 2), augmentation that keeps the geometry
valid (:mod:`mvdlib.data.augment`), the deterministic schedule of :mod:`mvdlib.training.schedule`,
validation every ``val_every`` steps, atomic checkpoints and an exact resume.

Distributed: under ``torchrun`` (``RANK``/``WORLD_SIZE`` set) the model is wrapped in
``DistributedDataParallel`` (gloo on CPU, nccl on CUDA); each process takes its slice of
every global batch; rank 0 writes checkpoints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Any, cast

import torch
import torch.distributed as dist
from torch import Tensor
from tqdm import tqdm

from mvdlib._io import check_writable_folder, remove_stale_temporaries
from mvdlib._validation import positive_int, value_checks, value_checks_enabled
from mvdlib.conventions import normalize_image, valid_depth
from mvdlib.cost_volume import cost_volume_from_world_poses, inverse_depth_samples
from mvdlib.data.sample import Batch, Sample, check_sample, collate_samples
from mvdlib.data.synthetic import SyntheticMultiViewDataset
from mvdlib.losses import multiscale_inverse_depth_l1
from mvdlib.models.checkpoint import read_checkpoint
from mvdlib.models.mvdepthnet import MVDepthNet, load_pretrained
from mvdlib.runtime import default_device, seed_everything
from mvdlib.smoothness import edge_aware_smoothness
from mvdlib.training.config import (
    TrainConfig,
    _check_resume_steps,
    _model_config,
    _resumed_config,
    _saved_train_config,
)
from mvdlib.training.export import save_atomic
from mvdlib.training.preflight import preflight
from mvdlib.training.schedule import build_datasets, step_batches

__all__ = ["LR_DECAY", "batch_loss", "cost_volume_for_batch", "train"]

LR_DECAY = 0.3  # learning rate multiplied by this at each milestone
# Elements of one tensor operation large enough to run on every intra-op thread (ATen's grain
# size is 32768 elements per thread).
THREAD_POOL_WARMUP = 1 << 20


def cost_volume_for_batch(batch: Sample, num_depths: int, image_only: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """Normalised reference image, cost volume and inverse-depth planes of a batch (chapters 10-11).

    As in the original, the cost volume is built on the normalised images
    (:func:`mvdlib.cost_volume.cost_volume_from_world_poses`, planes from
    :func:`mvdlib.cost_volume.inverse_depth_samples`).

    Args:
        batch: collated samples (:mod:`mvdlib.data.sample`, each entry with a leading B).
        num_depths: number of planes D.
        image_only: skip building the cost volume and return zeros (all an ``image_only`` network reads).
    Returns:
        ``(ref B x 3 x H x W, cost B x D x H x W, inv_depths D)``.

    Example:
        >>> batch = {"ref_image": torch.full((1, 3, 4, 5), 81.0), "src_images": torch.full((1, 1, 3, 4, 5), 81.0),
        ...          "K": torch.tensor([[[4.0, 0, 2], [0, 4, 1.5], [0, 0, 1]]]), "T_world_ref": torch.eye(4)[None],
        ...          "T_world_srcs": torch.eye(4)[None, None], "ref_depth": torch.ones(1, 1, 4, 5)}
        >>> ref, cost, planes = cost_volume_for_batch(batch, num_depths=8)
        >>> tuple(ref.shape), tuple(cost.shape), tuple(planes.shape)
        ((1, 3, 4, 5), (1, 8, 4, 5), (8,))
    """
    check_sample(batch, "batch")
    num_depths = positive_int(num_depths, "num_depths")
    ref = normalize_image(batch["ref_image"])
    inv_depths = inverse_depth_samples(num_depths).to(ref.device)
    if image_only:
        b, _, h, w = ref.shape
        return ref, ref.new_zeros(b, num_depths, h, w), inv_depths
    srcs = normalize_image(batch["src_images"])
    cost = cost_volume_from_world_poses(ref, srcs, batch["K"], batch["T_world_ref"], batch["T_world_srcs"], inv_depths)
    return ref, cost, inv_depths


def batch_loss(
    model: torch.nn.Module,
    batch: Sample,
    num_depths: int,
    image_only: bool = False,
    smoothness_weight: float = 0.0,
    autocast_bf16: bool = False,
) -> Tensor:
    """The multi-scale inverse-depth L1 loss of ``model`` on a batch (invalid depth masked out).

    With ``smoothness_weight > 0``, plus that weight times GeoNet's edge-aware smoothness
    (:func:`mvdlib.smoothness.edge_aware_smoothness`) of the finest inverse depth, weighted by the
    reference image scaled to [0, 1] (chapter 13). With ``autocast_bf16`` the network's forward
    pass runs in bfloat16 (the cost volume and the loss stay float32).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> batch = {"ref_image": torch.full((1, 3, 32, 32), 81.0), "src_images": torch.full((1, 1, 3, 32, 32), 81.0),
        ...          "K": torch.tensor([[[16.0, 0, 16], [0, 16, 16], [0, 0, 1]]]), "T_world_ref": torch.eye(4)[None],
        ...          "T_world_srcs": torch.eye(4)[None, None], "ref_depth": torch.ones(1, 1, 32, 32)}
        >>> batch_loss(MVDepthNet(0.125, 8, input_size=(32, 32)).eval(), batch, num_depths=8).dim()
        0
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(smoothness_weight, bool) or not isinstance(smoothness_weight, (int, float)):
        raise TypeError(f"smoothness_weight must be a number, got {type(smoothness_weight).__name__}")
    if not math.isfinite(smoothness_weight) or smoothness_weight < 0:
        raise ValueError(f"smoothness_weight must be a finite number >= 0, got {smoothness_weight}")
    ref, cost, _ = cost_volume_for_batch(batch, num_depths, image_only)
    depth = batch["ref_depth"]
    if value_checks_enabled() and bool((depth < 0).any()):
        raise ValueError("batch['ref_depth'] must not be negative (0 or NaN mark invalid pixels)")
    valid = valid_depth(depth)
    target = torch.where(valid, 1.0 / torch.where(valid, depth, torch.ones_like(depth)), torch.zeros_like(depth))
    with torch.autocast(ref.device.type, dtype=torch.bfloat16, enabled=autocast_bf16):
        preds = [p.float() for p in model(ref, cost)]
    loss = multiscale_inverse_depth_l1(preds, target, valid)
    if smoothness_weight > 0:
        loss = loss + smoothness_weight * edge_aware_smoothness(preds[0], batch["ref_image"] / 255.0)
    return loss


@torch.no_grad()
def _validate(
    model: torch.nn.Module, dataset: SyntheticMultiViewDataset, cfg: TrainConfig, device: torch.device
) -> float:
    """Mean multi-scale inverse-depth L1 over ``dataset``: the data term only, comparable across smoothness weights."""
    model.eval()
    losses = []
    for start in range(0, len(dataset), cfg.batch_size):
        batch = collate_samples([dataset[i] for i in range(start, min(start + cfg.batch_size, len(dataset)))], device)
        losses.append(batch_loss(model, batch, cfg.num_depths, cfg.image_only).item())
    model.train()
    return sum(losses) / len(losses)


def _set_flush_denormal(on: bool) -> bool:
    """``torch.set_flush_denormal(on)`` on every intra-op thread; False where the CPU cannot.

    The denormal mode is a per-thread CPU flag: ``set_flush_denormal`` reaches the intra-op
    threads that exist, and a thread started later copies its creator's flag and keeps it
    after a reset. So the threads are started first; else training in a fresh process would
    leave them flushing denormals after the reset while the main thread does not.
    """
    torch.ones(THREAD_POOL_WARMUP).add_(1.0)
    return torch.set_flush_denormal(on)


def _check_finite_weights(model: torch.nn.Module, step: int) -> None:
    """Raise ``FloatingPointError`` when a parameter or buffer of ``model`` holds NaN or inf after ``step``."""
    bad = [k for k, v in model.state_dict().items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise FloatingPointError(
            f"training diverged: the weights are NaN or inf after step {step} (in {bad[:3]}); "
            "no checkpoint was written for it; lower --lr"
        )


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True, command: str = "") -> dict[str, Any]:
    """Run (or continue) a training run; returns the final checkpoint dict.

    Reproducible: on a CPU, a seeded run gives bit-identical weights run after run (at the same
    thread count). For that the run flushes denormal numbers to zero
    (``torch.set_flush_denormal(True)`` on every intra-op thread) and restores the mode after.
    A run that diverges stops: a NaN or inf loss, or NaN or inf weights before a checkpoint is
    written, raises ``FloatingPointError`` naming the step, and the last checkpoint written stays.
    The value checks of the inputs run on the first step's batch only; the later steps, and
    validation, run inside ``value_checks(False)`` (``mvdlib._validation``; book/conventions.md,
    Value checks), their form checks still on.

    Args:
        cfg: the run's configuration; ``cfg.out`` is the checkpoint path.
        resume: continue from ``cfg.out`` if it exists. ``cfg`` must equal the configuration
            saved in it except for ``RESUMABLE_CHANGES`` (``steps``, the total to reach,
            the paths ``out`` and ``cache_dir``, how often to validate and save, and how the
            steps are computed: ``num_workers``, ``autocast_bf16``), which are taken from
            ``cfg``; any other difference is refused with a ``ValueError``, and so is a
            checkpoint already past ``cfg.steps``.
        progress: show a tqdm bar with the running loss (rank 0 only).
        command: the command line, recorded in the checkpoint for provenance.
    Returns:
        The checkpoint dict (``model``, ``optimizer``, ``step``, ``config``, ``train_config``,
        ``history``, ``rng``, ``wall_time_s``, ``device``, ``cpu_threads``, ``command``).
    """
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    rank, world = 0, 1
    device = default_device()
    if distributed:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        rank, world = dist.get_rank(), dist.get_world_size()
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
    flush_denormal = device.type == "cpu" and _set_flush_denormal(True)
    try:
        return _train(cfg, resume, progress, command, rank, world, device)
    finally:
        if flush_denormal:
            _set_flush_denormal(False)
        if distributed:
            dist.destroy_process_group()


def _train(
    cfg: TrainConfig, resume: bool, progress: bool, command: str, rank: int, world: int, device: torch.device
) -> dict[str, Any]:
    ckpt = None
    if resume and Path(cfg.out).exists():
        ckpt = read_checkpoint(cfg.out)
        cfg = _resumed_config(cfg, _saved_train_config(ckpt, cfg.out))
        _check_resume_steps(ckpt["step"], cfg.steps, cfg.out)
    if rank == 0:
        check_writable_folder(cfg.out, "out")
        remove_stale_temporaries(cfg.out)
    preflight(cfg if ckpt is None else dataclasses.replace(cfg, init=None), device)
    seed_everything(cfg.seed)
    model = MVDepthNet(cfg.model_width, cfg.num_depths, input_size=(cfg.height, cfg.width), image_only=cfg.image_only)
    # channels_last: oneDNN's convolutions on the CPU run a fifth faster on NHWC (benchmarks/training.py)
    layout = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    model = model.to(device, memory_format=layout)  # type: ignore[call-overload]  # torch's stub of Module.to lacks memory_format
    if cfg.init is not None and ckpt is None:
        model.load_state_dict(load_pretrained(cfg.init).state_dict())  # shapes checked by preflight
    # fused: one kernel updates every parameter (the for-each loop costs a tenth of a CPU step)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)
    history: dict[str, list[float]] = {"step": [], "train_loss": [], "val_step": [], "val_loss": []}
    step, wall = 0, 0.0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        step, wall, history = ckpt["step"], ckpt["wall_time_s"], ckpt["history"]
        torch.set_rng_state(ckpt["rng"])
    net = model
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    data = build_datasets(cfg)
    train_set = data["train"]
    bar = tqdm(total=cfg.steps, initial=step, desc="train", disable=not progress or rank != 0, dynamic_ncols=True)
    running = history["train_loss"][-1] if history["train_loss"] else None
    t0 = time.perf_counter()
    net.train()

    def checkpoint() -> dict[str, Any]:
        return {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "config": _model_config(cfg),
            "train_config": dataclasses.asdict(cfg),
            "history": history,
            "rng": torch.get_rng_state(),
            "wall_time_s": wall + time.perf_counter() - t0,
            "device": str(device) + (f" x{world}" if world > 1 else ""),
            "cpu_threads": torch.get_num_threads(),
            "command": command if ckpt is None else ckpt["command"] + (f" && {command} (resumed)" if command else ""),
        }

    batches = iter(step_batches(train_set, cfg, step, rank, world))
    first_step = step
    while step < cfg.steps:
        # The value checks (finite, non-negative depth, rigid poses, K's last row) run on the first
        # batch, as the environment says (book/conventions.md, Value checks); the later batches come
        # from the same renderer, and their steps run without them: on a GPU each value check makes the
        # CPU wait. The form checks (shapes, types) always run.
        with contextlib.nullcontext() if step == first_step else value_checks(False):
            lr = cfg.lr * LR_DECAY ** sum(step >= m for m in cfg.lr_milestones)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = cast(Batch, {k: v.to(device) for k, v in next(batches).items()})
            loss = batch_loss(net, batch, cfg.num_depths, cfg.image_only, cfg.smoothness_weight, cfg.autocast_bf16)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"training diverged: the loss of step {step} is {value}; no checkpoint was written for it; "
                    "lower --lr"
                )
            running = value if running is None else 0.95 * running + 0.05 * value
            history["step"].append(step)
            history["train_loss"].append(running)
            bar.update(1)
            bar.set_postfix(loss=f"{running:.4f}", lr=f"{lr:.1e}")
            if step % cfg.val_every == 0 or step == cfg.steps:
                val = _validate(model, data["val"], cfg, device)
                history["val_step"].append(step)
                history["val_loss"].append(val)
                if rank == 0:
                    bar.write(f"step {step}: running train loss {running:.4f}, val loss {val:.4f}")
            if rank == 0 and (step % cfg.ckpt_every == 0 or step == cfg.steps):
                _check_finite_weights(model, step)
                save_atomic(checkpoint(), cfg.out)
    bar.close()
    return checkpoint()
