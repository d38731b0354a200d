"""Shared pytest configuration.

Hypothesis: no per-example deadline (the project's machines are small and shared, and
tests never assert timings) and no example database written into the checkout. Under CI
(``CI`` set, as on the project's CI machines) the examples are derandomized, so a run is
repeatable; elsewhere every run explores new examples.
"""

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("mvdlib", deadline=None, database=None, max_examples=60)
settings.register_profile("ci", parent=settings.get_profile("mvdlib"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "mvdlib")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sample-cache folder shared by the tests of one module (the small training runs of
    tests/tiny_training.py render the same scenes, so each module renders them once)."""
    return tmp_path_factory.mktemp("mvdlib_cache")
