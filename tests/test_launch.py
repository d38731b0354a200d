"""A new user's launch: a chapter copied alone into an empty folder runs from its own setup cell.

As in Colab or a fresh Jupyter, ``mvdlib`` is not importable at first: the test builds a
wheel from this checkout, makes a new virtual environment in which neither the checkout nor
the project's editable ``mvdlib`` is visible (the heavy dependencies are borrowed from the
running environment, without its ``mvdlib``), points the setup cell at the wheel through
``$MVDLIB_SOURCE`` and executes chapters there, each in a fresh kernel whose working folder
holds nothing but the notebook. Also checked: every chapter's setup cell is the one written
from ``_config.yml``'s repository URL, and the wheel carries every module and artefact.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
# Issue 12: at least chapters 1, 9, 11 and 12 (geometry, the cost volume, the committed
# checkpoints, the ten-view capture).
LAUNCHED = ["01_camera_geometry", "09_cost_volume", "11_mvdepthnet_training", "12_dense_point_cloud"]
KERNEL = "mvdlib-launch"

_spec = importlib.util.spec_from_file_location("setup_cells", ROOT / "scripts" / "setup_cells.py")
setup_cells = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(setup_cells)

# Executes a notebook in place with the interpreter that runs this script (the new venv's).
RUNNER = """
import sys
import nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
NotebookClient(nb, timeout=600, kernel_name=sys.argv[2], resources={"metadata": {"path": sys.argv[3]}}).execute()
nbformat.write(nb, path)
"""
# Appended to each launched chapter: where mvdlib and its artefacts were found.
REPORT = "import json, mvdlib, mvdlib.resources\nprint(json.dumps([mvdlib.__file__, str(mvdlib.resources.data_dir())]))"


def test_repository_url_is_a_github_repository() -> None:
    url, branch = setup_cells.repository()
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url), f"_config.yml repository.url: {url!r}"
    assert branch, "_config.yml repository.branch is empty"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_first_code_cell_is_the_setup_cell(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    cell = nb.cells[setup_cells.first_code_cell(nb)]
    expected = setup_cells.setup_cell_source(*setup_cells.repository())
    assert cell.get("id") == setup_cells.CELL_ID and cell.source == expected, (
        f"{path.name}: the first code cell is not the current setup cell; run `python scripts/setup_cells.py`"
    )
    assert f"git+{setup_cells.repository()[0]}@" in cell.source


def test_setup_cell_check_reports_a_stale_cell(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T"), nbformat.v4.new_code_cell("x = 1")])
    source = setup_cells.setup_cell_source("https://github.com/a/b", "main")
    assert setup_cells.with_setup_cell(nb, source)  # inserted before the first code cell
    assert [c.get("id") for c in nb.cells][1] == setup_cells.CELL_ID and nb.cells[2].source == "x = 1"
    assert not setup_cells.with_setup_cell(nb, source)  # already current
    assert setup_cells.with_setup_cell(nb, setup_cells.setup_cell_source("https://github.com/a/c", "main"))
    assert len(nb.cells) == 3


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the checkout (the build leaves nothing in the checkout)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("mvdlib", "data"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    build = ["wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(out), str(src)]
    subprocess.run([sys.executable, "-m", "pip", *build], check=True)
    (path,) = out.glob("mvdlib-*.whl")
    return path


def test_wheel_carries_every_module_and_artefact(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "mvdlib").rglob("*.py")}
    artefacts = {f"mvdlib/_data/{p.name}" for p in (ROOT / "data").iterdir() if p.is_file()}
    missing_modules, missing_artefacts = modules - names, artefacts - names
    assert not missing_modules, f"modules missing from the wheel (list their packages in pyproject): {missing_modules}"
    assert not missing_artefacts, f"artefacts missing from the wheel (package-data in pyproject): {missing_artefacts}"


def _borrowed_site_packages(target: Path) -> Path:
    """Links to everything the running environment has installed, except ``mvdlib`` itself.

    Left out: the (editable) ``mvdlib`` with its metadata, so that neither Python nor pip
    finds it, and ``.pth`` files, which would re-install the editable finder.
    """
    target.mkdir()
    for folder in map(Path, site.getsitepackages()):
        for entry in folder.iterdir():
            name = entry.name.lower()
            if name.startswith(("mvdlib", "__editable__", "__pycache__")) or name.endswith(".pth"):
                continue
            if not (target / entry.name).exists():
                (target / entry.name).symlink_to(entry)
    return target


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with a Jupyter kernel, the project's dependencies importable, mvdlib not."""
    base = tmp_path_factory.mktemp("launch")
    venv = base / "venv"
    # without its own pip and setuptools: older copies of them would shadow the borrowed ones,
    # which the dependencies' metadata requires (torch needs setuptools >= 77)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    borrowed = _borrowed_site_packages(base / "borrowed")
    (Path(purelib) / "borrowed.pth").write_text(f"{borrowed}\n")
    kernel = venv / "share" / "jupyter" / "kernels" / KERNEL
    kernel.mkdir(parents=True)
    argv = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (kernel / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"}))
    return venv


def _user_env(venv: Path, wheel: Path) -> dict[str, str]:
    """The environment of a new user's session: no checkout on the path, the wheel as the source."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH")}
    env.update(
        MVDLIB_SOURCE=str(wheel),
        JUPYTER_PATH=str(venv / "share" / "jupyter"),
        PIP_NO_INDEX="1",  # every dependency is already there: never download
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def _finds_mvdlib(python: Path, env: dict[str, str], cwd: Path) -> bool:
    code = "import importlib.util; print(importlib.util.find_spec('mvdlib') is not None)"
    out = subprocess.run([python, "-c", code], env=env, cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout.strip() == "True"


@pytest.mark.parametrize("chapter", LAUNCHED)
def test_chapter_runs_alone_from_its_setup_cell(chapter: str, wheel: Path, fresh_venv: Path, tmp_path: Path) -> None:
    python = fresh_venv / "bin" / "python"
    env = _user_env(fresh_venv, wheel)
    subprocess.run([python, "-m", "pip", "uninstall", "--yes", "--quiet", "mvdlib"], env=env, capture_output=True)
    assert not _finds_mvdlib(python, env, tmp_path), "mvdlib is importable before the setup cell ran"

    path = tmp_path / f"{chapter}.ipynb"  # the chapter alone in an empty folder
    nb = nbformat.read(ROOT / "chapters" / path.name, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(REPORT))
    nbformat.write(nb, path)
    run = subprocess.run(
        [python, "-c", RUNNER, str(path), KERNEL, str(tmp_path)], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert run.returncode == 0, f"{path.name} failed in a fresh environment:\n{run.stderr[-6000:]}"

    executed = nbformat.read(path, as_version=4)
    (report,) = [o for o in executed.cells[-1].outputs if o.get("name") == "stdout"]
    module, data = map(Path, json.loads(report.text))
    assert fresh_venv in module.parents, f"mvdlib came from {module}, not from the wheel installed in {fresh_venv}"
    assert fresh_venv in data.parents and (data / "mvdepthnet_cpu.pt").is_file(), f"artefacts read from {data}"
