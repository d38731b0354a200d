"""Write (or check) the setup cell that opens every chapter, from the one repository URL.

    .venv/bin/python scripts/setup_cells.py          # rewrite the setup cell of every chapter
    .venv/bin/python scripts/setup_cells.py --check  # exit 1 if a chapter's setup cell is stale

The cell is the first code cell of each chapter. Where ``mvdlib`` is importable (the project's
``.venv``) it does nothing; elsewhere (Colab, a fresh Jupyter) it pip-installs ``mvdlib`` from
the repository named by ``_config.yml``'s ``repository.url`` and ``repository.branch`` (the URL
the launch buttons use too), or from ``$MVDLIB_SOURCE`` when set (a wheel, a folder, any pip
requirement: the launch test points it at a wheel built from the checkout).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
CELL_ID = "mvdlib-setup"
SOURCE_ENV = "MVDLIB_SOURCE"

TEMPLATE = """\
# Setup: a no-op where mvdlib is installed (the book's environment). In Colab or a fresh Jupyter
# it installs mvdlib from the book's repository, or from ${env} (a wheel, a folder) when set.
import importlib.util, os, subprocess, sys  # noqa: E401

if importlib.util.find_spec("mvdlib") is None:
    source = os.environ.get("{env}", "{requirement}")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", source], check=True)
    importlib.invalidate_caches()"""


def repository(config: Path = ROOT / "_config.yml") -> tuple[str, str]:
    """``(url, branch)`` of the book's repository, from ``_config.yml``."""
    repo = yaml.safe_load(config.read_text())["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def setup_cell_source(url: str, branch: str) -> str:
    """The setup cell's code for a repository URL and branch."""
    return TEMPLATE.format(env=SOURCE_ENV, requirement=f"git+{url}@{branch}")


def first_code_cell(nb: nbformat.NotebookNode) -> int | None:
    return next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), None)


def with_setup_cell(nb: nbformat.NotebookNode, source: str) -> bool:
    """Make the setup cell the notebook's first code cell; return whether anything changed."""
    first = first_code_cell(nb)
    if first is not None and nb.cells[first].get("id") == CELL_ID:
        if nb.cells[first].source == source:
            return False
        nb.cells[first].source = source
        return True
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["hide-input"]})
    cell.id = CELL_ID
    nb.cells.insert(len(nb.cells) if first is None else first, cell)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale chapters instead of rewriting them")
    args = parser.parse_args(argv)
    source = setup_cell_source(*repository())
    stale = []
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if with_setup_cell(nb, source):
            stale.append(path.name)
            if not args.check:
                nbformat.write(nb, path)
    verb = "stale" if args.check else "rewritten"
    print(f"{len(stale)} chapter(s) {verb}: {', '.join(stale) or 'none'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
