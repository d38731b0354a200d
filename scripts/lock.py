"""Write ``requirements/lock.txt``: the book's environment at the tested versions, with hashes.

    .venv/bin/python scripts/lock.py --from-venv .venv   # lock what that (tested) venv has
    .venv/bin/python scripts/lock.py                      # re-lock from requirements/tested.txt

``requirements/tested.txt`` is ``pip freeze`` of the environment the book was tested in (its
editable ``mvdlib`` left out). ``uv pip compile`` resolves ``pyproject.toml`` with the ``dev``
extra under those versions as constraints and writes every package with the sha256 hashes of
its files on PyPI, for Linux x86-64 and the tested Python. torch is left out of the lock: the
Makefile installs it first (``TORCH_PIN``, the CPU build). ``make test`` and ``make book``
install from the lock with ``--require-hashes``; ``make test-latest`` ignores it. uv is not one
of the book's dependencies: install it where you run this (``pip install uv``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTED = ROOT / "requirements" / "tested.txt"
LOCK = ROOT / "requirements" / "lock.txt"
PLATFORM = "x86_64-manylinux_2_35"  # Open3D 0.20's Linux wheels need glibc 2.35
NOT_LOCKED = ("torch", "mvdlib")  # torch stays in tested.txt: the constraint keeps CUDA packages out
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s|$)")


def pins(text: str) -> dict[str, str]:
    """``{normalised name: version}`` of the ``name==version`` lines of a requirements text."""
    found = {}
    for line in text.splitlines():
        match = PIN.match(line)
        if match:
            found[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return found


def freeze(venv: Path) -> str:
    """``pip freeze --all`` of ``venv`` without its editable ``mvdlib``."""
    out = subprocess.run([venv / "bin" / "python", "-m", "pip", "freeze", "--all", "--exclude-editable"],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    keep = [line for line in out.splitlines() if not line.lower().startswith("mvdlib")]
    return "# pip freeze of the environment the book was tested in (scripts/lock.py)\n" + "\n".join(keep) + "\n"


def pip_find_links() -> list[str]:
    """The wheel folders pip is configured with (``PIP_FIND_LINKS`` or pip's ``find-links``): where this
    machine's CPU build of torch (``2.13.0+cpu``, not on PyPI) comes from; uv is told them too."""
    value = (
        os.environ.get("PIP_FIND_LINKS")
        or subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.find-links"], capture_output=True, text=True
        ).stdout
    )
    return value.split()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-venv", type=Path, help="take the tested versions from this venv's pip freeze")
    parser.add_argument(
        "--python-version", default=f"{sys.version_info[0]}.{sys.version_info[1]}.{sys.version_info[2]}"
    )
    args = parser.parse_args(argv)
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("uv not found: pip install uv")
    if args.from_venv is not None:
        TESTED.write_text(freeze(args.from_venv))
    command = [uv, "pip", "compile", "pyproject.toml", "--extra", "dev", "-c", TESTED.relative_to(ROOT),
               "--generate-hashes", "--no-emit-package", "torch", "--python-version", args.python_version,
               "--python-platform", PLATFORM, "--custom-compile-command", "python scripts/lock.py",
               "-o", LOCK.relative_to(ROOT)]  # fmt: skip
    for folder in pip_find_links():
        command += ["--find-links", folder]
    subprocess.run([str(c) for c in command], check=True, cwd=ROOT)
    tested, locked = pins(TESTED.read_text()), pins(LOCK.read_text())
    for name in NOT_LOCKED:
        tested.pop(name, None)
    differ = {n: (tested.get(n), v) for n, v in locked.items() if tested.get(n) != v}
    if differ:
        raise SystemExit(f"the lock differs from the tested versions (name: tested, locked): {differ}")
    print(f"{LOCK.relative_to(ROOT)}: {len(locked)} packages at the tested versions; "
          f"tested but not needed by pyproject: {sorted(set(tested) - set(locked)) or 'none'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
