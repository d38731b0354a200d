"""Checks before a training run's first step that depend on the machine or the path (issue 22, round 3):
DataLoader workers bounded by the CPUs, and an ``out`` that is a checkpoint file name."""

from __future__ import annotations

import os

import pytest
import torch

from mvdlib.training.config import TrainConfig
from mvdlib.training.preflight import MAX_WORKERS_PER_CPU, check_out, preflight, usable_cpus

SMALL = {"model_width": 0.125, "height": 32, "width": 32, "num_depths": 4, "batch_size": 2, "steps": 1}


def test_usable_cpus_are_those_this_process_may_run_on():
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert usable_cpus() == expected >= 1


def test_more_workers_than_the_cpus_can_feed_are_refused_saying_the_bound():
    bound = MAX_WORKERS_PER_CPU * usable_cpus()
    preflight(TrainConfig(**SMALL, num_workers=bound), torch.device("cpu"))  # the bound itself is taken
    with pytest.raises(ValueError, match=rf"num_workers must be at most {bound} .*got {bound + 1}"):
        preflight(TrainConfig(**SMALL, num_workers=bound + 1), torch.device("cpu"))


@pytest.mark.parametrize("name", ["run.txt", "run", "run.json", "run.pt.tmp"])
def test_an_out_that_is_not_a_checkpoint_file_name_is_refused(tmp_path, name):
    with pytest.raises(ValueError, match=r"out .* must end in \.pt or \.pth"):
        check_out(tmp_path / name, resume=False)


@pytest.mark.parametrize("name", ["run.pt", "run.pth"])
def test_checkpoint_file_names_are_taken(tmp_path, name):
    check_out(tmp_path / name, resume=False)
