"""Chapters put their networks and data on ``mvdlib.default_device()``; the budget knob.

No GPU is needed: ``tests/emulated_device.py`` emulates an accelerator on the CPU, so a
chapter that leaves a network on the CPU, feeds it CPU tensors, or hands a device tensor to
NumPy fails here as it would fail (or silently run on the CPU) on CUDA.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient
from torch import nn

import mvdlib
from mvdlib.runtime import BUDGET_ENV, CHAPTER_SETTINGS, budget, chapter_settings

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
# Chapters that build, train or run a network, quick enough under the emulation. The others
# that do (3, 4, 7, 8, 13) pass the same check but take 1.5-7 minutes each on 2 busy cores:
#   python -c "from test_device import *; run_on_emulated_device(ROOT / 'chapters' / '13_sharper_edges.ipynb')"
# (run from tests/, with PYTHONPATH set to the checkout).
CHECKED = ["06_batch_norm", "10_mvdepthnet_architecture", "11_mvdepthnet_training"]
INSTALL = f"""\
import os, sys
os.environ["{BUDGET_ENV}"] = "cpu"
sys.path.insert(0, {str(TESTS)!r})
import emulated_device
emulated_device.install()"""


def run_on_emulated_device(path: Path, timeout: int = 900) -> nbformat.NotebookNode:
    """Execute a chapter, from its folder, with the emulated accelerator as the default device."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(INSTALL))
    resources = {"metadata": {"path": str(path.parent)}}
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources=resources).execute()
    return nb


@pytest.mark.parametrize("chapter", CHECKED)
def test_chapter_puts_its_work_on_the_default_device(chapter: str) -> None:
    run_on_emulated_device(ROOT / "chapters" / f"{chapter}.ipynb")


def test_emulated_device_catches_what_cuda_would() -> None:
    """The harness itself: each kind of slip the chapters are checked for raises."""
    import emulated_device as emu

    code = """
import torch, mvdlib
from torch import nn
D = mvdlib.default_device()
net = nn.Sequential(nn.Linear(8, 2000), nn.ReLU(), nn.Linear(2000, 1))
x = torch.randn(4, 8)
{slip}
"""
    slips = {
        "network left on the CPU": "net(x)",
        "data left on the CPU": "net.to(D)(x)",
        "device tensor to NumPy": "net.to(D)(x.to(D)).detach().numpy()",
        "mixed operands": "torch.zeros(3, device=D) + torch.ones(3)",
    }
    fine = "y = net.to(D)(x.to(D)); assert y.device == D; y.detach().cpu().numpy(); float(y.detach().sum())"
    mode = emu.install()
    try:
        exec(code.format(slip=fine), {})
        for name, slip in slips.items():
            with pytest.raises(emu.EmulatedDeviceError):
                exec(code.format(slip=slip), {})
                pytest.fail(f"not caught: {name}")
    finally:
        mode.__exit__(None, None, None)
        emu.uninstall()
    assert mvdlib.default_device() == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert nn.Linear(2, 2)(torch.ones(1, 2)).shape == (1, 2)  # hooks removed


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


def test_an_untrained_network_is_scored_not_refused() -> None:
    """A barely trained network (chapter 11's live run) whose depth layer underflows is scored at the far plane."""
    from mvdlib.cost_volume import MAX_DEPTH
    from mvdlib.data.synthetic import SyntheticMultiViewDataset
    from mvdlib.evaluate import MIN_INVERSE_DEPTH, MVDEPTHNET, evaluate_model, predict_batch
    from mvdlib.models.mvdepthnet import MVDepthNet
    from mvdlib.train import collate_samples

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
