"""native_bf16: one answer to whether bfloat16 runs natively, used by predict's warning and chapter 11."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

import mvdlib.inference
from mvdlib.runtime import native_bf16

CPUINFO = Path("/proc/cpuinfo")


@pytest.mark.skipif(not CPUINFO.is_file(), reason="needs Linux's /proc/cpuinfo")
def test_native_bf16_on_the_cpu_is_what_the_processor_flags_say():
    flags = {f for line in CPUINFO.read_text().splitlines() if line.startswith("flags") for f in line.split()}
    assert native_bf16("cpu") == bool(flags & {"avx512_bf16", "amx_bf16"})
    assert native_bf16(torch.device("cpu")) == native_bf16("cpu")


def test_native_bf16_refuses_what_is_not_a_device():
    with pytest.raises(TypeError, match="device"):
        native_bf16(3)
    with pytest.raises(ValueError, match="device"):
        native_bf16("nonsense")


@pytest.mark.parametrize("native", [True, False])
def test_predicts_warning_follows_native_bf16(monkeypatch, native):
    monkeypatch.setattr(mvdlib.inference, "native_bf16", lambda device: native)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        mvdlib.inference._warn_if_slow_bf16(torch.device("cpu"))
    assert len([w for w in record if "without native bfloat16" in str(w.message)]) == (0 if native else 1)
