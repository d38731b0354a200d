"""Shared pytest configuration.

Hypothesis: no per-example deadline (the project's machines are small and shared, and
tests never assert timings) and no example database written into the checkout. Under CI
(``CI`` set, as on the project's CI machines) the examples are derandomized, so a run is
repeatable; elsewhere every run explores new examples.
"""

import copy
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

settings.register_profile("mvdlib", deadline=None, database=None, max_examples=60)
settings.register_profile("ci", parent=settings.get_profile("mvdlib"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "mvdlib")


# The files that run longest (chapters executed in a kernel, a wheel and a venv built, many
# fresh interpreters), longest first. `make unit` hands whole files to its workers in collection
# order (--dist loadfile --no-loadscope-reorder): started first, they run while the short files
# fill the other worker, instead of leaving one worker alone with them at the end.
SLOW_FILES = (
    "tests/test_launch.py",
    "tests/test_device.py",
    "tests/test_committed_checkpoints.py",
    "tests/classroom/test_grader_trust.py",
    "tests/test_gpu_check.py",
    "tests/test_training_loop.py",
    "tests/classroom/test_check.py",
    "tests/test_inference.py",
    "tests/test_cli_errors.py",
    "tests/classroom/test_student.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the tests of :data:`SLOW_FILES` first, in that order; every other test keeps its place."""
    root = config.rootpath
    rank = {root / name: i for i, name in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.path, len(rank)))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sample-cache folder shared by the tests of one module (the small training runs of
    tests/tiny_training.py render the same scenes, so each module renders them once)."""
    return tmp_path_factory.mktemp("mvdlib_cache")


@pytest.fixture(scope="session")
def _tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One step of tests/tiny_training.py's configuration, trained once per session into a folder
    of its own (``train_config["out"]`` is its checkpoint file, ``["cache_dir"]`` its own sample
    cache); see :func:`tiny_checkpoint`."""
    from tiny_training import tiny_config

    from mvdlib.training.loop import train

    run = tmp_path_factory.mktemp("tiny_run")
    return train(tiny_config(run, run / "cache", steps=1), progress=False)


@pytest.fixture
def tiny_checkpoint(_tiny_run: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint dict of a one-step tiny training run, for tests that need any trained
    checkpoint and do not check the training itself: trained once per session, a fresh copy for
    each test (which may change it); its file is ``train_config["out"]``, not to be written to."""
    return copy.deepcopy(_tiny_run)
