"""Colab as it ships (issue 25): the fast checks; ``make colab-check`` runs chapters on Colab's versions.

Here, in the book's environment: the committed constraints are Colab's published freeze;
mvdlib's bounds admit every version Colab has; the setup cell's Colab path installs mvdlib and
Open3D without dependencies, then only dash and configargparse, and enables Colab's custom
widget manager; the explorers' display is one bundle, the same as ipywidgets' own, and in Colab
HTML that loads plotly.js (plotly's ``colab`` renderer); the lock pins the tested versions with
hashes.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import types
from pathlib import Path

import ipywidgets
import plotly.graph_objects as go
import pytest
import tomllib
from packaging.requirements import Requirement

from mvdlib import notebook
from mvdlib.explorers import Explorer, Param, View
from mvdlib.viz import plotly_bundle as book_bundle

ROOT = Path(__file__).resolve().parents[1]
(CONSTRAINTS,) = sorted((ROOT / "constraints").glob("colab-*.txt"))


def _script(name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pins(text: str) -> dict[str, str]:
    return _script("lock").pins(text)


@pytest.fixture
def fake_colab(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A stand-in ``google.colab`` loaded, as Colab's kernel has it; records the widget manager call."""
    colab, output = types.ModuleType("google.colab"), types.ModuleType("google.colab.output")
    output.enabled = []
    output.enable_custom_widget_manager = lambda: output.enabled.append(True)
    colab.output = output
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.output", output)
    return output


def test_constraints_are_colabs_published_freeze_without_torch() -> None:
    text = CONSTRAINTS.read_text()
    assert re.search(r"github\.com/googlecolab/backend-info/blob/[0-9a-f]{40}/pip-freeze\.txt", text)
    pins = _pins(text)
    assert pins["ipywidgets"] == "7.7.1" and pins["plotly"] == "5.24.1" and pins["widgetsnbextension"] == "3.6.10"
    assert "torch" not in pins and "open3d" not in pins  # the check's torch is the book's; Colab has no Open3D


def test_refresh_keeps_pins_and_drops_what_pip_cannot_constrain() -> None:
    freeze = "# header\nnumpy==2.1.3\ntorch @ https://download.pytorch.org/torch.whl\nPyYAML==6.0.3\n"
    text = _script("refresh_colab_constraints").constraints(freeze, "a" * 40, "2026-08-19")
    assert _pins(text) == {"numpy": "2.1.3", "pyyaml": "6.0.3"}
    assert "Left out" in text and "torch" in text.splitlines()[3] and "2026-08-19" in text.splitlines()[0]


def test_mvdlib_bounds_admit_every_version_colab_has() -> None:
    pins = _pins(CONSTRAINTS.read_text())
    dependencies = [
        Requirement(d) for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ]
    refused = {r.name: pins[r.name.lower()] for r in dependencies
               if r.name.lower() in pins and not r.specifier.contains(pins[r.name.lower()])}  # fmt: skip
    assert not refused, f"Colab has these versions and mvdlib's bounds refuse them (pip would replace them): {refused}"


def _run_setup_cell(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Execute chapter 1's setup cell where mvdlib is not installed; the pip commands it ran."""
    import subprocess

    import nbformat

    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, check: calls.append(cmd[3:]))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setenv("MVDLIB_SOURCE", "mvdlib.whl")
    nb = nbformat.read(ROOT / "chapters" / "01_camera_geometry.ipynb", as_version=4)
    (setup,) = [c for c in nb.cells if c.get("id") == "mvdlib-setup"]
    exec(setup.source, {})
    return calls


def test_setup_cell_in_colab_keeps_colabs_packages(monkeypatch: pytest.MonkeyPatch, fake_colab) -> None:
    calls = _run_setup_cell(monkeypatch)
    open3d = next(d for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
                  if d.startswith("open3d"))  # fmt: skip
    assert calls == [["install", "--quiet", "--no-deps", "mvdlib.whl", open3d],
                     ["install", "--quiet", "dash", "configargparse"]]  # fmt: skip
    assert fake_colab.enabled == [True]


def test_setup_cell_elsewhere_installs_with_dependencies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert _run_setup_cell(monkeypatch) == [["install", "--quiet", "mvdlib.whl"]]


def test_widget_bundle_is_what_ipywidgets_writes() -> None:
    box = ipywidgets.VBox([ipywidgets.IntSlider()])
    own = box._repr_mimebundle_() if hasattr(box, "_repr_mimebundle_") else None  # ipywidgets 8
    bundle = notebook.widget_bundle(box)
    assert bundle[notebook.WIDGET_VIEW_MIME]["model_id"] == box.model_id
    if own is not None:
        assert bundle == own
    with pytest.raises(TypeError, match="widget"):
        notebook.widget_bundle(go.Figure())


def _toy() -> Explorer:
    return Explorer([Param("a", [1, 2], 1)], lambda a: View([go.Scatter(x=[0, 1], y=[a, a])]), {"height": 300})


def test_static_figures_in_colab_are_html_that_loads_plotly(fake_colab) -> None:
    fig = _toy().static()
    bundle = notebook.plotly_bundle(fig)
    assert set(bundle) == {"text/html"}  # what plotly's colab renderer writes: Colab draws no plotly MIME type
    html = bundle["text/html"]
    assert re.search(r'<script [^>]*src="https://cdn\.plot\.ly/plotly-[\d.]+\.min\.js"', html)
    assert "Plotly.addFrames" in html and "Plotly.animate" not in html  # frames, not played on load


def test_static_figures_elsewhere_are_the_books_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    fig = _toy().static()
    ours, book = notebook.plotly_bundle(fig), book_bundle(fig)
    assert not notebook.in_colab() and set(ours) == set(book) == {"application/vnd.plotly.v1+json", "text/html"}
    assert ours["application/vnd.plotly.v1+json"] == book["application/vnd.plotly.v1+json"]
    assert "cdn.plot.ly" not in ours["text/html"]  # the book serves its own plotly.js


def test_explorer_show_in_colab(monkeypatch: pytest.MonkeyPatch, fake_colab) -> None:
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append((obj, raw)))
    _toy().show()
    [(bundle, raw)] = shown
    assert raw and set(bundle) == {"text/html", "text/plain", notebook.WIDGET_VIEW_MIME}
    assert "cdn.plot.ly" in bundle["text/html"]


def test_lock_pins_the_tested_versions_with_hashes() -> None:
    lock = (ROOT / "requirements" / "lock.txt").read_text()
    tested, locked = _pins((ROOT / "requirements" / "tested.txt").read_text()), _pins(lock)
    assert "torch" not in locked and "mvdlib" not in locked  # torch: the Makefile's TORCH_PIN, first
    assert {n: v for n, v in locked.items() if tested.get(n) != v} == {}
    entries = re.split(r"\n(?=[A-Za-z])", lock.split("\n", 2)[2])
    assert all("--hash=sha256:" in e for e in entries), "every locked package carries its hashes"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {Requirement(d).name.lower() for d in project["dependencies"] + project["optional-dependencies"]["dev"]}
    assert names - {"torch"} <= set(locked), f"not in the lock: {names - {'torch'} - set(locked)}"
    assert "--require-hashes --no-deps -r $(LOCK)" in (ROOT / "Makefile").read_text()


def test_colab_check_diff_names_changed_added_and_removed() -> None:
    check = _script("colab_check")
    diff = check.freeze_diff({"plotly": "5.24.1", "six": "1.17.0"}, {"plotly": "7.1.0", "dash": "4.4.1"})
    assert diff == {"changed": {"plotly": "5.24.1 -> 7.1.0"}, "added": {"dash": "4.4.1"}, "removed": {"six": "1.17.0"}}


def test_show_plotly_in_colab_displays_colabs_html(monkeypatch: pytest.MonkeyPatch, fake_colab) -> None:
    import IPython.display

    from mvdlib.notebook import show_plotly

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append((obj, raw)))
    show_plotly(_toy().static())
    ((bundle, raw),) = shown
    assert raw and set(bundle) == {"text/html"} and "cdn.plot.ly" in bundle["text/html"]
