"""Checks a training run passes before its first step (chapter 11): the memory it needs, its files.

:func:`training_memory_bytes` estimates what one training step holds at once: the weights,
their gradients and Adam's two moments (4 copies of every parameter), and the activations the
backward pass keeps, measured by one forward pass on PyTorch's ``meta`` device (shapes only,
no memory, no arithmetic): every module's output is counted, as autograd keeps about that
much. :func:`preflight` refuses a run that cannot fit in the memory available (the device's
free memory on CUDA, ``MemAvailable`` otherwise), one whose ``init`` checkpoint does not fit
the network, and a ``cache_dir`` that is not a folder, each with a ``ValueError`` that says why;
:func:`check_out` refuses an ``out`` that a new run would wrongly overwrite.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from mvdlib._validation import value_checks
from mvdlib.models.checkpoint import read_checkpoint
from mvdlib.models.mvdepthnet import MVDepthNet, load_pretrained
from mvdlib.training.config import TrainConfig

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "MAX_WORKERS_PER_CPU",
    "available_memory_bytes",
    "check_out",
    "preflight",
    "training_memory_bytes",
    "usable_cpus",
]

# Copies of every parameter a step holds: the weights, their gradients and Adam's two moments.
PARAMETER_COPIES = 4
# Autograd keeps some tensors besides each module's output (a convolution's input, BatchNorm's
# statistics) and the backward pass allocates gradients of the activations: a rough allowance.
ACTIVATION_FACTOR = 2.0
# DataLoader workers per CPU this process may use: a worker renders and augments batches, so a
# few per CPU hide its waits; beyond that each only adds a process, its memory and its start-up.
MAX_WORKERS_PER_CPU = 4
# File names a checkpoint is written under (its provenance JSON takes the same stem).
CHECKPOINT_SUFFIXES = (".pt", ".pth")


def _network(cfg: TrainConfig) -> nn.Module:
    return MVDepthNet(cfg.model_width, cfg.num_depths, input_size=(cfg.height, cfg.width), image_only=cfg.image_only)


def training_memory_bytes(cfg: TrainConfig) -> int:
    """Bytes one training step of ``cfg`` needs at its peak (an estimate, float32).

    Args:
        cfg: the run's configuration (``model_width``, ``num_depths``, ``height``, ``width``,
            ``batch_size``, ``image_only``).
    Returns:
        ``PARAMETER_COPIES`` x the parameters' bytes + ``ACTIVATION_FACTOR`` x the bytes of
        every module output of one forward pass at ``batch_size``.
    """
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    with torch.device("meta"):
        model = _network(cfg)
    outputs = [0]

    def count(module: nn.Module, args: object, out: object) -> None:
        for t in out if isinstance(out, (list, tuple)) else [out]:
            if isinstance(t, torch.Tensor):
                outputs[0] += t.numel() * t.element_size()

    hooks = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
    b, h, w = cfg.batch_size, cfg.height, cfg.width
    image = torch.empty(b, 3, h, w, device="meta")
    cost = torch.empty(b, cfg.num_depths, h, w, device="meta")
    try:
        with value_checks(False), torch.no_grad():
            model(image, cost)
    finally:
        for hook in hooks:
            hook.remove()
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    inputs = image.numel() * 4 + cost.numel() * 4
    return int(PARAMETER_COPIES * params + ACTIVATION_FACTOR * outputs[0] + inputs)


def available_memory_bytes(device: torch.device) -> int:
    """Free memory of ``device``: ``torch.cuda.mem_get_info`` on CUDA, else the system's ``MemAvailable``
    (``/proc/meminfo``; free pages where there is none)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the system has one, else ``os.cpu_count()``)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _check_init(cfg: TrainConfig) -> None:
    if cfg.init is None:
        return
    try:
        weights = load_pretrained(cfg.init).state_dict()
    except (OSError, RuntimeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"init {cfg.init!r} is not a readable MVDepthNet checkpoint: {err}") from err
    with torch.device("meta"):
        expected = _network(cfg).state_dict()
    wrong = [
        f"{k} {tuple(weights[k].shape) if k in weights else 'missing'} (needs {tuple(v.shape)})"
        for k, v in expected.items()
        if k not in weights or weights[k].shape != v.shape
    ]
    if wrong or set(weights) - set(expected):
        raise ValueError(
            f"init {cfg.init!r} does not fit the network of this run (model_width={cfg.model_width}, "
            f"num_depths={cfg.num_depths}, image_only={cfg.image_only}): " + "; ".join(wrong[:3])
        )


def preflight(cfg: TrainConfig, device: torch.device) -> None:
    """Refuse a run that cannot start: more DataLoader workers than ``MAX_WORKERS_PER_CPU`` per usable
    CPU, a ``cache_dir`` that is not a folder, an ``init`` that does not fit, more memory than
    ``device`` has free (a ``ValueError`` naming the setting)."""
    most = MAX_WORKERS_PER_CPU * usable_cpus()
    if cfg.num_workers > most:
        raise ValueError(
            f"num_workers must be at most {most} ({MAX_WORKERS_PER_CPU} per CPU this process may use, "
            f"{usable_cpus()}), got {cfg.num_workers}"
        )
    if cfg.cache_dir is not None and Path(cfg.cache_dir).exists() and not Path(cfg.cache_dir).is_dir():
        raise ValueError(f"cache_dir must be a folder, got the file {cfg.cache_dir!r}")
    if cfg.cache_dir is not None:
        try:  # the run writes its rendered views there: a folder it cannot create fails now, not mid-run
            Path(cfg.cache_dir).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(f"cache_dir {cfg.cache_dir!r} cannot be created ({error.strerror or error})") from None
    _check_init(cfg)
    need, free = training_memory_bytes(cfg), available_memory_bytes(device)
    if need > free:
        raise ValueError(
            f"a training step at batch_size={cfg.batch_size}, {cfg.height}x{cfg.width}, model_width={cfg.model_width}, "
            f"num_depths={cfg.num_depths} needs about {need / 2**30:.1f} GiB, but {device} has "
            f"{free / 2**30:.1f} GiB free: lower batch_size, height/width or model_width"
        )


def check_out(out: str | Path, resume: bool) -> None:
    """Refuse an ``out`` a run cannot write: a folder, a name not ending in ``CHECKPOINT_SUFFIXES``,
    or, for a new run, an existing file.

    An existing training checkpoint is refused unless ``resume`` (continue it), so a finished
    run is never overwritten by accident; any other existing file (an exported checkpoint, a
    file that is no checkpoint) is refused either way.

    Raises:
        TypeError: ``out`` is not a path or ``resume`` not a bool.
        ValueError: saying what is at ``out`` and what to do.
    """
    if not isinstance(out, (str, Path)) or not str(out):
        raise TypeError(f"out must be a file path (str or Path), got {out!r:.80}")
    if not isinstance(resume, bool):
        raise TypeError(f"resume must be True or False, got {resume!r:.80}")
    path = Path(out)
    if path.is_dir():
        raise ValueError(f"out {str(out)!r} is a folder: give the path of a checkpoint file (e.g. {path / 'run.pt'})")
    if not path.exists() or resume:  # resuming reads and checks the file itself
        if path.suffix not in CHECKPOINT_SUFFIXES:
            raise ValueError(
                f"out {str(out)!r} must end in {' or '.join(CHECKPOINT_SUFFIXES)}: it names a checkpoint file "
                f"(e.g. {path.with_suffix('.pt').name})"
            )
        return
    not_training = f"out {str(out)!r} exists and is not a training checkpoint"
    try:
        training = "train_config" in read_checkpoint(path)
    except (OSError, ValueError, RuntimeError) as err:
        raise ValueError(f"{not_training} ({err}); choose another out") from err
    if not training:
        raise ValueError(f"{not_training} (it would be overwritten); choose another out")
    raise ValueError(
        f"out {str(out)!r} is an existing training checkpoint: pass --resume to continue it, or choose another out "
        "(delete the file to start over)"
    )
