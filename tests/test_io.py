"""Tests of mvdlib/_io.py: atomic writes and the sha256 that committed artefacts record."""

from __future__ import annotations

import json

import numpy as np
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


# ---- a capture vouches for itself, like a checkpoint --------------------------------------------


def _capture(tmp_path, value=0):
    from mvdlib.capture import load_capture, save_capture

    data = load_capture()
    data["K"] = data["K"] + value
    return save_capture(tmp_path / "c.npz", data)


def test_a_damaged_capture_without_its_json_is_refused(tmp_path):
    from mvdlib.capture import load_capture

    path = _capture(tmp_path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["K"] = arrays["K"] * 2
    np.savez_compressed(path, **arrays)
    with pytest.raises(ValueError, match="damaged"):
        load_capture(path)


def test_a_capture_decides_from_content_which_json_is_its_provenance(tmp_path):
    from mvdlib.capture import load_capture

    path = _capture(tmp_path)
    path.with_suffix(".json").write_text('{"note": "unrelated"}')
    load_capture(path)
    path.with_suffix(".json").write_text(json.dumps({"sha256": None}))
    with pytest.raises(ValueError, match="64 hex digits"):
        load_capture(path)
    path.with_suffix(".json").write_text(json.dumps({"sha256": sha256_of(path)}))
    _capture(tmp_path, value=1)  # a new file whose JSON was never written
    with pytest.warns(UserWarning, match="stale"):
        assert load_capture(path)["K"][0, 0] == load_capture()["K"][0, 0] + 1
