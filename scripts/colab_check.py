"""The Colab check: chapters run alone on Google Colab's published package versions, and change none of them.

    .venv/bin/python scripts/colab_check.py                    # chapters 1, 5, 9 and 12 (make colab-check)
    .venv/bin/python scripts/colab_check.py --all              # every chapter (make colab-check-all)

1. A venv built from ``constraints/colab-*.txt`` (Colab's ``pip freeze``), holding the packages
   of Colab's runtime that the book touches (:data:`COLAB_BASE` and their dependencies, at
   Colab's versions), is kept under ``_build/colab-venv-<hash>``, keyed by the constraints, the
   base list and the torch pin, so that it is built once. torch is not Colab's (its CUDA build
   is about 5.6 GB): the book's own CPU torch stands in, installed without its dependencies
   (torch 2.13 asks for setuptools>=77, Colab has 75.2.0), which come from the constraints.
   The venv's Python is the book's (Colab has 3.13; the CPU torch wheel at hand is the book
   venv's), so a pin that needs a newer Python (:data:`NEEDS_NEWER_PYTHON`) takes the newest
   release for this one.
2. A wheel of ``mvdlib`` is built from the checkout; each chapter is copied alone into an
   empty folder and executed in a kernel of that venv in which a stand-in ``google.colab``
   module is loaded at start (as Colab's kernel does), so the setup cell takes its Colab path
   and installs the wheel from ``$MVDLIB_SOURCE``.
3. Asserted: (a) no package the venv had before changed version (``pip freeze`` before and
   after), and ``pip check`` reports nothing but Open3D's ``ipywidgets>=8.0.4`` (and the
   stand-in torch's setuptools); (b) every explorer's controls change its figure, on
   Colab's ipywidgets 7.7.1 and plotly 5.24.1 (``scripts/colab_explorers_probe.py``), and the
   setup cell enabled Colab's custom widget manager; (c) every chapter completes.
   Afterwards the packages the setup cell added are uninstalled, so the cached venv stays as
   Colab ships; a venv whose versions changed is deleted. Packages the setup cell adds that
   Colab has (dash's dependencies) are in the venv at Colab's versions from the start.

The report (freeze diff, per-chapter times) is printed and written to ``_build/colab-check.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from setup_cells import COLAB_MISSING  # noqa: E402  (what the setup cell installs with its dependencies)

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints" / "colab-2026-08-19.txt"
REPRESENTATIVE = ("01", "05", "09", "12")
KERNEL = "colab-check"
BUILD = 2  # part of the venv's key: raise it when build_venv changes
# The packages of Colab's runtime that the book and its setup cell touch, installed at Colab's
# versions with their dependencies: mvdlib's requirements but torch and Open3D, Open3D's
# requirements that Colab has, and Colab's Jupyter kernel and widget stack.
COLAB_BASE = (
    "numpy", "scipy", "matplotlib", "opencv-python-headless", "scikit-image", "plotly", "ipywidgets",
    "widgetsnbextension", "anywidget", "tqdm", "ipython", "ipykernel", "notebook", "traitlets",
    "jupyter_client", "nbformat", "flask", "werkzeug", "pillow", "requests", "pyyaml",
)  # fmt: skip
TORCH_DEPENDENCIES = ("filelock", "fsspec", "jinja2", "networkx", "sympy", "typing_extensions")
# Colab's pins that have no release for the book's Python 3.11 (Colab runs 3.13).
NEEDS_NEWER_PYTHON = {"tifffile": (3, 12)}
# pip check's complaints that are expected: Open3D asks for ipywidgets 8 (only its Jupyter
# viewer, which the book does not use, needs it); the stand-in torch asks for a newer setuptools.
EXPECTED_CONFLICTS = ("open3d 0.", "torch 2.")
# A stand-in for the module Colab's kernel imports at start; records what the setup cell asks of it.
FAKE_COLAB = {
    "google/colab/__init__.py": "from google.colab import output  # noqa: F401\n",
    "google/colab/output.py": "custom_widget_manager = False\n\n\ndef enable_custom_widget_manager():\n"
    "    global custom_widget_manager\n    custom_widget_manager = True\n",
    "sitecustomize.py": "import google.colab  # noqa: F401  (Colab's kernel has it loaded)\n",
}
# Appended to each chapter: where mvdlib came from, and whether the widget manager was enabled.
REPORT = (
    "import json, mvdlib, google.colab.output\n"
    "print(json.dumps([mvdlib.__file__, google.colab.output.custom_widget_manager]))"
)


def run(*args: object, **kwargs) -> str:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kwargs).stdout


def pip(python: Path, *args: object, **kwargs) -> str:
    return run(python, "-m", "pip", "--disable-pip-version-check", *args, **kwargs)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def freeze(python: Path) -> dict[str, str]:
    """``{name: version}`` of everything installed in the venv (names normalised)."""
    out = pip(python, "list", "--format", "json")
    return {normalise(p["name"]): p["version"] for p in json.loads(out)}


def pins(constraints: Path) -> dict[str, str]:
    """``{name: version}`` of a constraints file."""
    lines = [line.split("==") for line in constraints.read_text().splitlines() if "==" in line]
    return {normalise(name): version for name, version in lines}


def freeze_diff(before: dict[str, str], after: dict[str, str]) -> dict[str, dict[str, str]]:
    """What changed between two freezes: ``changed`` (name: "old -> new"), ``added``, ``removed``."""
    return {
        "changed": {n: f"{before[n]} -> {after[n]}" for n in sorted(before) if n in after and after[n] != before[n]},
        "added": {n: after[n] for n in sorted(set(after) - set(before))},
        "removed": {n: before[n] for n in sorted(set(before) - set(after))},
    }


def effective_constraints(constraints: Path, out: Path) -> list[str]:
    """The constraints less the pins that need a newer Python than this one; returns those dropped."""
    dropped, kept = [], []
    for line in constraints.read_text().splitlines():
        name = line.split("==")[0].lower()
        need = NEEDS_NEWER_PYTHON.get(name)
        (dropped if need and sys.version_info[:2] < need else kept).append(line)
    out.write_text("\n".join(kept) + "\n")
    return dropped


def build_venv(venv: Path, constraints: Path, torch_pin: str) -> None:
    """The Colab-like venv (see the module docstring), built once per key."""
    if (venv / ".built").is_file():
        return
    shutil.rmtree(venv, ignore_errors=True)
    start = time.perf_counter()
    base = getattr(sys, "_base_executable", sys.executable)
    run(base, "-m", "venv", venv)
    python = venv / "bin" / "python"
    cons = venv / "constraints.txt"
    dropped = effective_constraints(constraints, cons)
    pip(python, "install", "--quiet", "-c", cons, "pip", "setuptools", "wheel")
    pip(python, "install", "--quiet", "--no-deps", torch_pin)
    pip(python, "install", "--quiet", "-c", cons, *TORCH_DEPENDENCIES, *COLAB_BASE)
    # What the setup cell's second pip install would add, Colab has partly: those at Colab's versions
    dry = venv / "setup-cell-dry-run.json"
    pip(python, "install", "--quiet", "--dry-run", "--report", dry, *COLAB_MISSING)
    would_add = {normalise(p["metadata"]["name"]) for p in json.loads(dry.read_text())["install"]}
    has = sorted(would_add & set(pins(cons)))
    if has:
        pip(python, "install", "--quiet", "-c", cons, *has)
    kernel = venv / "share" / "jupyter" / "kernels" / KERNEL
    kernel.mkdir(parents=True)
    argv = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (kernel / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"}))
    fake = venv / "fake-colab"
    for name, text in FAKE_COLAB.items():
        (fake / name).parent.mkdir(parents=True, exist_ok=True)
        (fake / name).write_text(text)
    built = {"seconds": round(time.perf_counter() - start), "dropped": dropped, "colab_has": has}
    (venv / ".built").write_text(json.dumps(built))


def build_wheel(out: Path) -> Path:
    """A wheel of mvdlib from a copy of the checkout."""
    src = out / "src"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("mvdlib", "data"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    pip(Path(sys.executable), "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", out, src)
    (wheel,) = out.glob("mvdlib-*.whl")  # the copy in src/ is left for the temporary folder to remove
    return wheel


def kernel_env(venv: Path, wheel: Path) -> dict[str, str]:
    """A Colab user's kernel: the stand-in google.colab loaded, no checkout on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH")}
    env.update(
        PYTHONPATH=str(venv / "fake-colab"),
        JUPYTER_PATH=str(venv / "share" / "jupyter"),
        MVDLIB_SOURCE=str(wheel),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def run_chapter(chapter: Path, folder: Path, env: dict[str, str]) -> tuple[float, list]:
    """Execute ``chapter`` alone in the empty ``folder``; its seconds and the appended report."""
    path = folder / chapter.name
    nb = nbformat.read(chapter, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(REPORT))
    start = time.perf_counter()
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # jupyter_client looks the kernel up and starts it in this environment
    try:
        NotebookClient(nb, timeout=900, kernel_name=KERNEL, resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    seconds = time.perf_counter() - start
    nbformat.write(nb, path)
    # The report is the cell's last stdout line; a thread of an earlier cell may still print into it.
    text = "".join(o.text for o in nb.cells[-1].outputs if o.get("name") == "stdout")
    return seconds, json.loads(text.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="every chapter, not the representative set")
    parser.add_argument("--constraints", type=Path, default=CONSTRAINTS)
    parser.add_argument("--torch", default="torch==2.13.0", help="the torch that stands in for Colab's")
    parser.add_argument("--report", type=Path, default=ROOT / "_build" / "colab-check.json")
    args = parser.parse_args(argv)
    total = time.perf_counter()
    chapters = sorted((ROOT / "chapters").glob("*.ipynb"))
    if not args.all:
        chapters = [c for c in chapters if c.name[:2] in REPRESENTATIVE]
    key = hashlib.sha256(b"\n".join([args.constraints.read_bytes(), " ".join(COLAB_BASE).encode(),
                                     args.torch.encode(), str(BUILD).encode()])).hexdigest()[:12]  # fmt: skip
    venv = ROOT / "_build" / f"colab-venv-{key}"
    build_venv(venv, args.constraints, args.torch)
    python = venv / "bin" / "python"
    report: dict = {"venv": str(venv.relative_to(ROOT)), "built": json.loads((venv / ".built").read_text())}
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        wheel = build_wheel(tmp_path / "wheel")
        env = kernel_env(venv, wheel)
        before = freeze(python)
        if "mvdlib" in before:
            raise SystemExit(f"{venv} has mvdlib installed: delete it and run again")
        report["before"] = {n: before[n] for n in ("ipywidgets", "widgetsnbextension", "plotly", "anywidget",
                                                   "ipython", "ipykernel", "numpy", "torch")}  # fmt: skip
        report["chapters"] = {}
        try:
            for chapter in chapters:
                folder = tmp_path / chapter.stem
                folder.mkdir()
                seconds, (module, manager) = run_chapter(chapter, folder, env)
                report["chapters"][chapter.stem] = round(seconds, 1)
                print(f"{chapter.stem}: {seconds:.0f} s", flush=True)
                if venv not in Path(module).parents:
                    problems.append(f"{chapter.stem}: mvdlib came from {module}, not the venv")
                if not manager:
                    problems.append(f"{chapter.stem}: the setup cell did not enable Colab's custom widget manager")
            after = freeze(python)
            report["diff"] = freeze_diff(before, after)
            if report["diff"]["changed"] or report["diff"]["removed"]:
                problems.append(f"the setup cell changed Colab's packages: {report['diff']}")
            colab = pins(args.constraints)
            off = {n: f"{v} (Colab: {colab[n]})" for n, v in report["diff"]["added"].items() if colab.get(n, v) != v}
            if off:  # Colab has it, so the venv should have had it: the check would miss a change
                problems.append(f"added at other versions than Colab's (add them to COLAB_BASE): {off}")
            check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True).stdout
            report["pip_check"] = check.splitlines()
            problems += [f"pip check: {line}" for line in check.splitlines()
                         if line.strip() and not line.startswith(EXPECTED_CONFLICTS)]  # fmt: skip
            probe = subprocess.run([python, ROOT / "scripts" / "colab_explorers_probe.py"], env=env,
                                   cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
            if probe.returncode != 0 and not probe.stdout.strip():
                problems.append(f"explorer probe failed:\n{probe.stderr[-4000:]}")
            else:
                report["explorers"] = json.loads(probe.stdout)
                if probe.returncode != 0:
                    problems.append("an explorer's control does not change its figure, or show() is wrong")
        except Exception as error:  # a chapter failed: report, then restore the venv
            problems.append(f"{type(error).__name__}: {str(error)[-4000:]}")
        finally:
            added = sorted(set(freeze(python)) - set(before))
            if added:
                pip(python, "uninstall", "--yes", "--quiet", *added)
            if freeze(python) != before:
                shutil.rmtree(venv)  # not as Colab ships any more: built afresh next time
    report["seconds"] = round(time.perf_counter() - total, 1)
    report["problems"] = problems
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    print(f"Colab check: {len(chapters)} chapter(s), {report['seconds']:.0f} s, "
          f"{'passed' if not problems else 'FAILED'}")  # fmt: skip
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
