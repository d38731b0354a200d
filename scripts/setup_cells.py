"""Write (or check) the setup cell that opens every chapter, from the one repository URL.

    .venv/bin/python scripts/setup_cells.py          # rewrite the setup cell of every chapter
    .venv/bin/python scripts/setup_cells.py --check  # exit 1 if a chapter's setup cell is stale

The cell is the first code cell of each chapter. Where ``mvdlib`` is importable (the project's
``.venv``) it does nothing; elsewhere (Colab, a fresh Jupyter) it pip-installs ``mvdlib`` from
the repository named by ``_config.yml``'s ``repository.url`` and ``repository.branch`` (the URL
the launch buttons use too), or from ``$MVDLIB_SOURCE`` when set (a wheel, a folder, any pip
requirement: the launch test points it at a wheel built from the checkout). In Colab it installs
mvdlib and Open3D with ``--no-deps`` and then only the packages Colab lacks, so that Colab's own
versions (ipywidgets 7, plotly 5, ...) stay, and enables Colab's custom widget manager.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
CELL_ID = "mvdlib-setup"
SOURCE_ENV = "MVDLIB_SOURCE"

TEMPLATE = """\
# Setup: a no-op where mvdlib is installed (the book's environment). Elsewhere it installs mvdlib from
# the book's repository, or from ${env} (a wheel, a folder) when set. In Colab it keeps every package
# Colab has (its widget stack above all): mvdlib and Open3D come without their dependencies, then
# only what Colab lacks, and widgets are drawn by Colab's custom widget manager.
import importlib.util, os, subprocess, sys  # noqa: E401

colab = "google.colab" in sys.modules
if importlib.util.find_spec("mvdlib") is None:
    source = os.environ.get("{env}", "{requirement}")
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    if colab:
        subprocess.run([*pip, "--no-deps", source, "{open3d}"], check=True)
        subprocess.run([*pip, {colab_missing}], check=True)
    else:
        subprocess.run([*pip, source], check=True)
    importlib.invalidate_caches()
if colab:
    from google.colab import output

    output.enable_custom_widget_manager()"""

# What Colab lacks of mvdlib's and Open3D's requirements (scripts/colab_check.py checks that
# nothing else is missing): Open3D imports dash, and lists configargparse.
COLAB_MISSING = ("dash", "configargparse")


def repository(config: Path = ROOT / "_config.yml") -> tuple[str, str]:
    """``(url, branch)`` of the book's repository, from ``_config.yml``."""
    repo = yaml.safe_load(config.read_text())["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def open3d_requirement(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """mvdlib's requirement on Open3D (``"open3d>=0.19,<0.21"``), from ``pyproject.toml``."""
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return next(d for d in dependencies if d.startswith("open3d"))


def setup_cell_source(url: str, branch: str) -> str:
    """The setup cell's code for a repository URL and branch."""
    missing = ", ".join(f'"{name}"' for name in COLAB_MISSING)
    return TEMPLATE.format(env=SOURCE_ENV, requirement=f"git+{url}@{branch}", open3d=open3d_requirement(),
                           colab_missing=missing)  # fmt: skip


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
