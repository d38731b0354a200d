"""Chapters put their networks and data on ``mvdlib.default_device()``.

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
from mvdlib.runtime import BUDGET_ENV

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
        "mixed operands in a list": "torch.cat([torch.zeros(3, device=D), torch.ones(3)])",
        "mixed operands in keywords": "torch.add(torch.zeros(3, device=D), other=torch.ones(3))",
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
