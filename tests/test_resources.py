"""Tests of mvdlib.resources: the committed artefacts are found through the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from mvdlib.capture import DEFAULT_CAPTURE
from mvdlib.models.checkpoint import DEFAULT_CHECKPOINT, IMAGE_ONLY_CHECKPOINT
from mvdlib.resources import data_dir, data_path

ROOT = Path(__file__).resolve().parents[1]


def test_every_committed_artefact_resolves_to_the_file_in_data() -> None:
    files = [p for p in (ROOT / "data").iterdir() if p.is_file() and p.suffix in (".pt", ".json", ".npz")]
    assert files
    for path in files:
        assert data_path(path.name).resolve() == path.resolve()
    assert data_dir().resolve() == (ROOT / "data").resolve()


def test_library_defaults_point_into_the_data_package() -> None:
    for path in (DEFAULT_CHECKPOINT, IMAGE_ONLY_CHECKPOINT, DEFAULT_CAPTURE):
        assert path.parent == data_dir() and path.is_file(), path


@pytest.mark.parametrize("name", ["", "../mvdlib/__init__.py", "sub/file.pt", 3])
def test_data_path_rejects_anything_but_a_file_name(name) -> None:
    with pytest.raises(ValueError, match="name"):
        data_path(name)
