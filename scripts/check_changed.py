"""The inner loop (``make check``): the unit tests of what changed, then the changed notebooks.

What changed: the files ``git diff`` names against the merge base with ``main`` (against
``HEAD`` when there is no ``main``, or with ``--base``), committed or not, plus untracked files.
The tests that run:

* a changed test file itself (``tests/**/test_*.py``);
* for a changed module ``mvdlib/a/b.py``: ``tests/**/test_b.py``, every test file that names
  ``mvdlib.a.b`` or imports ``b`` from ``mvdlib.a``, and the module's doctests;
* for a changed test helper (``tests/x.py``): the test files that import ``x``;
* for a changed script (``benchmarks/x.py``, ``scripts/x.py``): the test files that name ``x``.

The changed chapters and book notebooks run with ``scripts/execute_notebooks.py``, each
exercise's solution through its check (``MVDLIB_CHECK_STRICT=1``, as ``make notebooks``; the
book's execution cache is filled, so ``make book`` afterwards executes nothing again).
A change the mapping cannot follow (``pyproject.toml``, ``Makefile``, ``mvdlib/__init__.py``)
is named, and ``make test`` is the check for it.

    python scripts/check_changed.py            # what changed since main
    python scripts/check_changed.py --list     # only print the selection
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# As `make unit`: whole files per worker (their module fixtures built once), the longest first
# (tests/conftest.py's SLOW_FILES).
UNIT_DIST = ["--dist", "loadfile", "--no-loadscope-reorder"]
WIDE = {"pyproject.toml", "Makefile", "mvdlib/__init__.py", "tests/conftest.py", "_config.yml", "_toc.yml"}


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def changed_files(base: str | None) -> list[str]:
    """Paths (relative to the root) changed since ``base``, committed or not, and untracked files."""
    if base is None:
        try:
            base = git("merge-base", "HEAD", "main").strip()
        except subprocess.CalledProcessError:
            base = "HEAD"
    names = set(git("diff", "--name-only", base).split())
    names |= set(git("ls-files", "--others", "--exclude-standard").split())
    return sorted(n for n in names if (ROOT / n).exists())


def module_name(path: str) -> str:
    """``mvdlib/a/b.py`` -> ``mvdlib.a.b`` (a package's ``__init__.py`` -> the package)."""
    parts = list(Path(path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def tests_for(changed: list[str], test_files: list[Path]) -> tuple[list[str], list[str]]:
    """(test files, modules whose doctests run) for the changed paths."""
    sources = {p: p.read_text(encoding="utf-8") for p in test_files}
    selected: set[Path] = set()
    doctests: list[str] = []
    for name in changed:
        path = Path(name)
        if name.startswith("tests/") and path.name.startswith("test_") and path.suffix == ".py":
            selected.add(ROOT / path)
        elif name.startswith(("benchmarks/", "scripts/")) and path.suffix == ".py":
            pattern = re.compile(rf"\b{re.escape(path.stem)}\b")
            selected |= {p for p, text in sources.items() if pattern.search(text)}
        elif name.startswith("tests/") and path.suffix == ".py" and name != "tests/conftest.py":
            pattern = re.compile(rf"\b(import|from)\s+{re.escape(path.stem)}\b")
            selected |= {p for p, text in sources.items() if pattern.search(text)}
        elif name.startswith("mvdlib/") and path.suffix == ".py":
            module = module_name(name)
            package, _, leaf = module.rpartition(".")
            patterns = [rf"\b{re.escape(module)}\b"]
            if leaf != "mvdlib":
                # one line, or a parenthesised list over several lines
                listed = r"(\([^)]*|[^\n(]*)"
                patterns.append(rf"from\s+{re.escape(package)}\s+import\s+{listed}\b{re.escape(leaf)}\b")
            pattern = re.compile("|".join(patterns))
            selected |= {p for p, text in sources.items() if p.name == f"test_{path.stem}.py" or pattern.search(text)}
            doctests.append(name)
    return sorted(str(p.relative_to(ROOT)) for p in selected), doctests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default=None, help="git revision to compare with (default: merge base with main)")
    parser.add_argument("--jobs", type=int, default=2, help="pytest workers and notebooks at a time")
    parser.add_argument("--list", action="store_true", help="print the selection and run nothing")
    args = parser.parse_args(argv)
    changed = changed_files(args.base)
    test_files = sorted((ROOT / "tests").rglob("test_*.py"))
    tests, doctests = tests_for(changed, test_files)
    notebooks = [n for n in changed if n.endswith(".ipynb") and n.startswith(("chapters/", "book/"))]
    wide = sorted(WIDE & set(changed))
    print(f"changed: {len(changed)} file(s); tests: {' '.join(tests) or 'none'}")
    print(f"doctests: {' '.join(doctests) or 'none'}; notebooks: {' '.join(notebooks) or 'none'}")
    if wide:
        print(f"changed beyond what this check follows (run `make test`): {' '.join(wide)}")
    if args.list:
        return 0
    python = sys.executable
    if tests or doctests:
        command = [python, "-m", "pytest", "-q", "-m", "not book", "-n", str(args.jobs), *UNIT_DIST, *tests]
        if doctests:
            command += ["--doctest-modules", *doctests]
        if subprocess.run(command, cwd=ROOT).returncode != 0:
            return 1
    if notebooks:
        execute = [python, "scripts/execute_notebooks.py", "--jobs", str(args.jobs), "--cache", "_build/.jupyter_cache"]
        strict = {**os.environ, "MVDLIB_CHECK_STRICT": "1"}  # solutions through their checks, as `make notebooks`
        if subprocess.run([*execute, *notebooks], cwd=ROOT, env=strict).returncode != 0:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
