"""Input checks, host-device synchronisations and time of one training step (issue 20's before/after).

One step of the training loop of ``mvdlib.train`` on the cpu preset's network (quarter-width
MVDepthNet, 32 planes, 2 source views) at a small size, batch 2 at 64 x 32 by default: the
batch moved to the device, ``mvdlib.train.batch_loss``, ``zero_grad``, ``backward``, the
fused Adam step and the loop's ``loss.item()``, as the loop runs them each step (the batch
itself is built once, from two rendered samples and ``collate_samples``, and is not part of
the step: the loop loads it in a DataLoader worker). Three measurements:

(a) **Input checks**: the calls to each function of ``mvdlib._validation`` (and of
    ``mvdlib.conventions`` where it exists) during one step. Each function is wrapped by a
    counter in its own module and in every ``mvdlib.*`` module that imported it by name, so
    calls from one check to another count too. A value check switched off
    (``MVDLIB_VALUE_CHECKS=0``) is still called and counted; it then scans nothing, and (b) shows it.

(b) **Host-device synchronisations**, on the emulated accelerator of the tests
    (``tests/emulated_device.py``: tensors moved to the device are tagged, and so is everything
    computed from them). A ``TorchFunctionMode`` counts the Python-level calls, on a tensor on
    the device, that make the CPU wait for the device on a real GPU:

    * a value read back to Python: ``Tensor.item``, ``tolist``, ``__bool__`` (``if t.any():``,
      ``and``/``or``/``not`` of a tensor), ``__int__``, ``__float__``, ``__index__``;
    * a copy to the host: ``Tensor.cpu``, ``numpy``, ``__array__`` (``np.asarray(t)``),
      ``Tensor.to`` the CPU;
    * a comparison that returns a Python bool: ``torch.allclose``, ``torch.equal`` (and the methods);
    * an output whose size depends on the data: ``nonzero``, ``argwhere``, ``masked_select``,
      ``unique``, ``unique_consecutive``, one-argument ``torch.where``, and indexing (``t[mask]``)
      or assigning a tensor (``t[mask] = values``) through a boolean mask.

    Not counted: work inside one PyTorch call (a composite function's own ``.item()``, which
    the mode does not see), CUDA-side waits of kernels (none on the CPU) and tensors that stay
    on the CPU (a CPU scalar's ``.item()`` waits for nothing). Each count is attributed to the
    innermost ``mvdlib`` function on the stack (or to the loop, for ``loss.item()``).

(c) **Time**: the median wall and CPU time of a training step on the CPU (not emulated: a plain
    model and batch), after two warm-up steps, on one thread by default, like
    ``benchmarks/training.py``. On a shared machine the CPU time is the steadier of the two.

It imports only names that stay where they are across the layouts of issue 20
(``mvdlib.train.TrainConfig``, ``build_datasets``, ``collate_samples``, ``batch_loss``,
``mvdlib.models.mvdepthnet.MVDepthNet``), so the same file measures the code before and after:

    PYTHONPATH=$PWD python benchmarks/training_step_checks.py [--repeats 30] [--threads 1]
    MVDLIB_VALUE_CHECKS=0 PYTHONPATH=$PWD python benchmarks/training_step_checks.py
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import importlib
import inspect
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType, ModuleType

import torch
from torch.overrides import TorchFunctionMode

import mvdlib
from mvdlib.models.mvdepthnet import MVDepthNet
from mvdlib.train import TrainConfig, batch_loss, build_datasets, collate_samples

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from emulated_device import DEVICE, EmulatedDevice, on_device  # noqa: E402

MVDLIB_DIR = Path(mvdlib.__file__).resolve().parent
THIS_FILE = str(Path(__file__).resolve())
CHECK_MODULES = ("mvdlib._validation", "mvdlib.conventions")

# (b): the calls counted as a host-device synchronisation when a tensor argument is on the device.
T = torch.Tensor
TO_PYTHON = {T.item, T.tolist, T.__bool__, T.__int__, T.__float__, T.__index__}
TO_HOST = {T.cpu, T.numpy, T.__array__}
PYTHON_BOOL = {torch.allclose, torch.equal, T.allclose, T.equal}
DATA_SIZED = {
    torch.nonzero, T.nonzero, torch.argwhere, T.argwhere, torch.masked_select, T.masked_select,
    torch.unique, T.unique, torch.unique_consecutive, T.unique_consecutive,
}  # fmt: skip
KINDS = ("value to Python", "copy to host", "Python-bool comparison", "data-sized output")


def _bool_index(index: object) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in items)


def sync_kind(func: Callable, args: tuple, kwargs: dict) -> str | None:
    """The kind of synchronisation a call makes (see the module docstring), or None."""
    if func in TO_PYTHON:
        return KINDS[0]
    if func in TO_HOST:
        return KINDS[1]
    if func is T.to:
        targets = [a for a in (*args[1:], kwargs.get("device")) if isinstance(a, (str, torch.device))]
        return KINDS[1] if any(torch.device(a) == torch.device("cpu") for a in targets) else None
    if func in PYTHON_BOOL:
        return KINDS[2]
    if func in DATA_SIZED or (func is torch.where and len(args) + len(kwargs) == 1):
        return KINDS[3]
    if func is T.__getitem__ and _bool_index(args[1]):
        return KINDS[3]
    if func is T.__setitem__ and _bool_index(args[1]) and isinstance(args[2], torch.Tensor) and args[2].dim() > 0:
        return KINDS[3]
    return None


def call_site(frame: FrameType | None) -> str:
    """The innermost mvdlib function on the stack, else the innermost frame of this script."""
    fallback = "other"
    while frame is not None:
        path = Path(frame.f_code.co_filename).resolve()
        if path.is_relative_to(MVDLIB_DIR):
            return f"mvdlib/{path.relative_to(MVDLIB_DIR)}:{frame.f_code.co_name}"
        if str(path) == THIS_FILE and fallback == "other" and frame.f_code.co_name != "__torch_function__":
            fallback = f"training loop ({frame.f_code.co_name})"
        frame = frame.f_back
    return fallback


class SyncCounter(TorchFunctionMode):
    """Counts the calls of :func:`sync_kind` on tensors tagged as on the emulated device."""

    def __init__(self) -> None:
        super().__init__()
        self.kinds: collections.Counter[str] = collections.Counter()
        self.sites: collections.Counter[tuple[str, str]] = collections.Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kind = sync_kind(func, args, kwargs)
        if kind is not None and any(isinstance(a, torch.Tensor) and on_device(a) for a in (*args, *kwargs.values())):
            self.kinds[kind] += 1
            name = getattr(func, "__name__", str(func))
            self.sites[(call_site(sys._getframe(1)), name)] += 1
        return func(*args, **kwargs)


def check_functions() -> dict[str, Callable]:
    """Every function defined in the check modules that exist, by ``module.name``."""
    found = {}
    for module_name in CHECK_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name, obj in vars(module).items():
            if inspect.isfunction(obj) and obj.__module__ == module_name:
                found[f"{module_name.removeprefix('mvdlib.')}.{name}"] = obj
    return found


def count_check_calls(run: Callable[[], object]) -> collections.Counter[str]:
    """Run ``run()`` with every check function wrapped by a counter wherever mvdlib holds it by name."""
    functions = check_functions()
    by_id = {id(f): name for name, f in functions.items()}
    calls: collections.Counter[str] = collections.Counter({name: 0 for name in functions})

    def counting(name: str, f: Callable) -> Callable:
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return f(*args, **kwargs)

        return wrapper

    wrappers = {name: counting(name, f) for name, f in functions.items()}
    patched: list[tuple[ModuleType, str, object]] = []
    for module_name, module in list(sys.modules.items()):
        if module is None or not (module_name == "mvdlib" or module_name.startswith("mvdlib.")):
            continue
        for attr, value in list(vars(module).items()):
            if inspect.isfunction(value) and id(value) in by_id and value is functions[by_id[id(value)]]:
                patched.append((module, attr, value))
                setattr(module, attr, wrappers[by_id[id(value)]])
    try:
        run()
    finally:
        for module, attr, value in patched:
            setattr(module, attr, value)
    return calls


@dataclasses.dataclass
class Step:
    """A model, its optimizer and a batch on one device: what one step of the loop needs."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    batch: dict[str, torch.Tensor]
    cfg: TrainConfig

    def __call__(self) -> float:
        """One step as the training loop runs it: batch to the device, loss, backward, Adam, the loss read back."""
        device = next(self.model.parameters()).device
        batch = {k: v.to(device) for k, v in self.batch.items()}
        loss = batch_loss(self.model, batch, self.cfg.num_depths, self.cfg.image_only, self.cfg.smoothness_weight)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()


def make_step(cfg: TrainConfig, batch: dict[str, torch.Tensor], device: torch.device) -> Step:
    """Model and optimizer as the loop sets them up (channels_last on a CPU, fused Adam), seeded."""
    torch.manual_seed(cfg.seed)
    model = MVDepthNet(cfg.model_width, cfg.num_depths, input_size=(cfg.height, cfg.width), image_only=cfg.image_only)
    model = model.to(device, memory_format=torch.channels_last if device.type == "cpu" else torch.contiguous_format)
    model.train()
    return Step(model, torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True), batch, cfg)


def describe_tree() -> str:
    root = MVDLIB_DIR.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "?"
    return f"{root} at {commit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2, help="batch size")
    parser.add_argument("--height", type=int, default=32)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=30, help="timed steps (after two warm-up steps)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = dataclasses.replace(
            TrainConfig(), height=args.height, width=args.width, batch_size=args.batch, train_scenes=1,
            samples_per_scene=args.batch, cache_dir=str(Path(tmp) / "cache"),
        )  # fmt: skip
        train_set = build_datasets(cfg)["train"]
        batch = collate_samples([train_set[i] for i in range(args.batch)], "cpu")

    # (c) time, on the CPU
    step = make_step(cfg, batch, torch.device("cpu"))
    for _ in range(2):
        step()
    times, cpu_times = [], []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)

    # (a) and (b), one step on the emulated device after a warm-up step (Adam's state exists)
    with EmulatedDevice():
        step = make_step(cfg, batch, DEVICE)
        step()
        syncs = SyncCounter()
        with syncs:
            calls = count_check_calls(step)

    shape = f"{cfg.batch_size} x {cfg.num_sources + 1} views x {cfg.height} x {cfg.width}"
    print(f"mvdlib: {describe_tree()}")
    print(
        f"one training step: cpu preset network (width {cfg.model_width}, {cfg.num_depths} planes), batch {shape}; "
        f"MVDLIB_VALUE_CHECKS={os.environ.get('MVDLIB_VALUE_CHECKS', '(unset)')}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s), load average {os.getloadavg()[0]:.1f}"
    )
    print(f"\n(a) calls of the check functions in one step: {sum(calls.values())} in all")
    for name, n in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0])):
        if n:
            print(f"  {name:<40}{n:>6}")
    print(f"  ({sum(1 for n in calls.values() if not n)} other check functions not called)")
    print(f"\n(b) host-device synchronisations in one step (emulated device): {sum(syncs.kinds.values())} in all")
    for kind in KINDS:
        print(f"  {kind:<40}{syncs.kinds[kind]:>6}")
    print("  where:")
    for (site, name), n in sorted(syncs.sites.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"    {n:>4}  {name:<14}{site}")
    print(f"\n(c) CPU training step ({args.repeats} steps after 2 warm-up steps): median, quartiles")
    for what, ts in (("wall time", times), ("CPU time of this process", cpu_times)):
        q1, _, q3 = statistics.quantiles(ts, n=4)
        print(f"  {what:<40}{statistics.median(ts) * 1e3:>6.1f} ms  ({q1 * 1e3:.1f} - {q3 * 1e3:.1f})")


if __name__ == "__main__":
    main()
