"""``benchmarks/gpu_check.py`` (``make gpu-check``) on the emulated accelerator, with tiny sizes.

No GPU is needed: ``tests/emulated_device.py`` makes the network and the batches live on an
emulated device, so a phase that leaves work on the CPU fails here as it would on CUDA.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import emulated_device as emu  # tests/ is on the path (rootdir conftest)
import nbformat
import pytest

from mvdlib.runtime import BUDGET_ENV

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import gpu_check  # noqa: E402

TINY = ["--size", "64", "64", "--planes", "8", "--model-width", "0.25", "--repeats", "1"]
TINY += ["--train-steps", "2", "--train-scenes", "1", "--batch-size", "2", "--workers", "0", "--jobs", "2"]
TINY += ["--smoke-limit", "600"]  # the emulation on a busy CPU is no GPU; the limit itself is tested below


def _notebook(path: Path, source: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def emulated():
    mode = emu.install()
    try:
        yield emu.DEVICE
    finally:
        mode.__exit__(None, None, None)
        emu.uninstall()


def test_every_phase_runs_on_the_device_and_lands_in_one_json(tmp_path: Path, emulated) -> None:
    budget = _notebook(tmp_path / "budget.ipynb", f"import os\nassert os.environ[{BUDGET_ENV!r}] == 'gpu'")
    broken = _notebook(tmp_path / "broken.ipynb", "raise RuntimeError('this chapter fails')")
    out = tmp_path / "gpu_check.json"
    before = os.environ.get(BUDGET_ENV)
    report = gpu_check.main([*TINY, "--out", str(out), "--chapters", str(budget), str(broken)], device=emulated)
    assert os.environ.get(BUDGET_ENV) == before  # the budget went to the chapters' kernels only
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    phases = report["phases"]
    assert list(phases) == ["smoke", "inference", "training", "chapters"]
    assert phases["inference"]["result"]["fp32"]["ms"] > 0
    assert phases["inference"]["result"]["fp32"]["max_rel_diff_vs_fp32"] == 0
    inference = phases["inference"]["result"]
    assert 0 < inference["fp16"]["max_rel_diff_vs_fp32"] < 0.1  # a real half-precision pass, not fp32 again
    assert "ms" in inference["bf16"] or "error" in inference["bf16"]  # a precision predict cannot run is named
    training = phases["training"]["result"]
    assert training["steps"] == 2 and training["steps_per_s"] > 0 and training["config"]["height"] == 64
    chapters = phases["chapters"]["result"]
    assert "error" not in chapters["budget"] and chapters["budget"]["seconds"] > 0
    assert "this chapter fails" in chapters["broken"]["error"]
    assert gpu_check.failures(report) == ["chapters/broken"]


def test_no_phase_starts_after_the_budget(tmp_path: Path, emulated) -> None:
    report = gpu_check.main([*TINY, "--out", str(tmp_path / "r.json"), "--budget", "-1"], device=emulated)
    assert report["phases"] == {} and report["skipped"] == ["smoke"]
    assert gpu_check.failures(report) == ["skipped smoke"]


def test_a_slow_smoke_step_stops_the_check(tmp_path: Path, emulated, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_check, "time_training", lambda *args: {})
    monkeypatch.setattr(gpu_check, "time_inference", lambda *args: {"fp32": {"ms": 1.0}})
    report = gpu_check.main([*TINY, "--out", str(tmp_path / "r.json"), "--smoke-limit", "0"], device=emulated)
    assert list(report["phases"]) == ["smoke"] and "limit 0.0 s" in report["phases"]["smoke"]["result"]["error"]
