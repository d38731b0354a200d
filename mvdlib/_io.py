"""Atomic file writes and integrity checks shared by checkpoints, the sample cache and captures.

A file is written to a temporary file beside it (``<name>.tmp<pid>-<random>``), flushed and
fsynced, then renamed over the target: a reader sees the old file or the new one, never a
partial one. Temporary files are created with mode ``0o666`` minus the umask, like any new
file (so a group-shared cache stays readable by the group), and a kill during a write leaves a
temporary file that :func:`remove_stale_temporaries` can recognise by its dead process id.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import secrets
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "check_writable_folder", "remove_stale_temporaries", "sha256_of", "verify_sha256"]

_TMP = re.compile(r"\.tmp(\d+)-[0-9a-f]+$")


def _temporary_name(path: Path) -> Path:
    return path.with_name(f"{path.name}.tmp{os.getpid()}-{secrets.token_hex(4)}")


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, and rename it to ``path``.

    Creates the parent folder. On any failure the temporary file is removed and the old
    ``path`` (if any) is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete temporary files of ``path`` left by killed writers (their process is gone).

    Returns:
        The files removed.
    """
    path = Path(path)
    removed: list[Path] = []
    if not path.parent.is_dir():
        return removed
    for tmp in path.parent.glob(f"{glob.escape(path.name)}.tmp*"):
        m = _TMP.search(tmp.name)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def check_writable_folder(path: str | os.PathLike, name: str) -> Path:
    """Create the folder of ``path`` if needed and check that a file can be written there.

    Raises:
        ValueError: naming ``name`` and the folder, when it cannot be created or written.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{name} must be a file path, got the folder {path}")
    try:
        atomic_write(path.with_name(f".{path.name}.write-test"), lambda f: f.write(b""))
        path.with_name(f".{path.name}.write-test").unlink()
    except OSError as err:
        raise ValueError(f"{name} must be in a writable folder, got {path} ({err})") from err
    return path


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_SHA256 = re.compile(r"[0-9a-f]{64}")


def verify_sha256(path: str | os.PathLike, self_verified: bool = False) -> bool:
    """Check ``path`` against the ``sha256`` its provenance JSON (``path`` with ``.json``) records.

    Whether the JSON is the file's provenance is decided from its content: a JSON object with
    a ``sha256`` key is; anything else beside the file (no JSON, unreadable, another kind of
    JSON) is not, and the file is not checked against it.

    Args:
        path: the file.
        self_verified: the file carries a digest of its content that was verified (checkpoints
            and captures written by mvdlib). A differing sha256 then means a stale JSON (a write
            interrupted between the file and its JSON, or a file replaced later): a warning, not
            an error.
    Returns:
        Whether the JSON's sha256 matched the file.
    Raises:
        ValueError: the JSON's sha256 is not 64 hex digits (e.g. null), or it differs from the
            file's bytes and the file does not vouch for itself (a damaged artefact), naming
            the file and how to restore it.
    """
    path = Path(path)
    sidecar = path.with_suffix(".json")
    try:
        record = json.loads(sidecar.read_text())
    except (OSError, ValueError):  # no JSON beside the file, or not JSON: not its provenance
        return False
    if not isinstance(record, dict) or "sha256" not in record:
        return False
    recorded = record["sha256"]
    if not isinstance(recorded, str) or not _SHA256.fullmatch(recorded):
        raise ValueError(
            f"provenance {sidecar} of {path.name} must record its sha256 as 64 hex digits, got {recorded!r:.80}"
        )
    actual = sha256_of(path)
    if actual == recorded:
        return True
    if self_verified:
        warnings.warn(
            f"{sidecar.name} is stale: it records sha256 {recorded[:16]}... but {path.name} has {actual[:16]}... "
            f"(a write interrupted between the file and its JSON, or a file replaced later); the file's own "
            "digest of its content verifies, so it is loaded",
            UserWarning,
            stacklevel=3,
        )
        return False
    raise ValueError(
        f"{path} is damaged: its sha256 {actual[:16]}... differs from {recorded[:16]}... recorded in "
        f"{sidecar.name}. Restore the committed file with `git checkout -- data/{path.name}` "
        f"(or reinstall mvdlib), or write it again with the command in {sidecar.name}"
    )
