"""Tests of mvdlib/_io.py: atomic writes and the sha256 that committed artefacts record."""

from __future__ import annotations

import json

import pytest

from mvdlib._io import atomic_write, sha256_of
from mvdlib.capture import DEFAULT_CAPTURE
from mvdlib.models.checkpoint import DEFAULT_CHECKPOINT, IMAGE_ONLY_CHECKPOINT


def test_atomic_write_leaves_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "x.bin"
    atomic_write(path, lambda f: f.write(b"old"))

    def fail(f):
        f.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, fail)
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


@pytest.mark.parametrize("path", [DEFAULT_CHECKPOINT, IMAGE_ONLY_CHECKPOINT, DEFAULT_CAPTURE])
def test_committed_artefacts_record_their_sha256(path):
    assert json.loads(path.with_suffix(".json").read_text())["sha256"] == sha256_of(path)
