"""Live explorers in a real client: JupyterLab in headless Chromium runs chapters 5 and 9.

It also opens chapter 1's student edition there: each exercise must show as a numbered heading
with its title, and its math typeset (JupyterLab has no MyST extension here).

JupyterLab is started from the project's environment on 127.0.0.1 (a random port, a random
token, its state in a temporary folder), the chapters are copied unedited into that folder,
run with "Run All", and one slider of each explorer is moved with the keyboard, as a reader
would; the live figure must then change its pixels. Marker ``book``: run by ``make browser``,
which provides Debian's chromium (the built book itself is not needed).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import nbformat
import numpy as np
import pytest
from test_browser import browser, changed_pixels  # noqa: F401 -- browser is the shared headless-Chromium fixture

from mvdlib.classroom.student import student_notebook

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 90
RUN_TIMEOUT_S = 300  # one chapter's "Run All" (each takes 20-40 s on 2 cores)
UPDATE_TIMEOUT_S = 60  # the kernel redraws the explorer after a slider moved
MIN_CHANGED_PIXELS = 50

pytestmark = pytest.mark.book

# The student edition's exercises (plain headings and Markdown) must render in JupyterLab without extensions.
STUDENT_CHAPTER = "01_camera_geometry.ipynb"

# chapter -> the caption of the slider to move (chapter 5: the loss explorer; 9: the cost slices)
SLIDERS = {"05_depth_losses.ipynb": "lambda", "09_cost_volume.ipynb": "plane d"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pixels(element) -> np.ndarray:
    """A screenshot of one element (scrolled into view first) as an H x W x 3 array."""
    png = element.screenshot()
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR).astype(np.int16)


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[str]:
    """A JupyterLab server on a copy of the chapters; yields its base URL with the token."""
    home = tmp_path_factory.mktemp("lab")
    notebooks = home / "notebooks"
    notebooks.mkdir()
    for name in SLIDERS:
        shutil.copy(ROOT / "chapters" / name, notebooks / name)
    student, _ = student_notebook(nbformat.read(ROOT / "chapters" / STUDENT_CHAPTER, as_version=4), chapter=1)
    nbformat.write(student, notebooks / f"student_{STUDENT_CHAPTER}")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime")}  # fmt: skip
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={notebooks}",
           f"--LabApp.workspaces_dir={home / 'workspaces'}", "--LabApp.expose_app_in_browser=True",
           "--LabServerApp.app_settings_dir=" + str(home / "settings")]  # fmt: skip
    if os.geteuid() == 0:  # a CI container
        cmd.append("--allow-root")
    log = open(home / "jupyterlab.log", "wb")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start: {(home / 'jupyterlab.log').read_text()[-2000:]}")
                time.sleep(1)
        yield f"{url}/lab/tree/{{}}?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


# Run every cell of the open notebook and wait until each has run; return the errors shown.
# The notebook panel of a file, found among the main area's widgets.
PANEL_JS = r"""(name) => [...window.jupyterapp.shell.widgets('main')].find(w => w.context?.path === name)"""
# Run every cell of the notebook.
RUN_ALL_JS = r"""async (name) => {
  const app = window.jupyterapp, panel = (PANEL)(name);
  await panel.context.ready;
  await panel.sessionContext.ready;
  app.shell.activateById(panel.id);
  await app.commands.execute('notebook:run-all-cells');
}""".replace("PANEL", PANEL_JS)
# How many code cells have run, whether the kernel is busy, and the errors shown.
STATE_JS = r"""(name) => {
  const panel = (PANEL)(name);
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  const errors = [];
  for (const c of cells) for (let i = 0; i < c.model.outputs.length; i++) {
    const o = c.model.outputs.get(i).toJSON();
    if (o.output_type === 'error') errors.push(`${o.ename}: ${o.evalue}`);
  }
  const done = cells.filter(c => c.model.executionCount !== null).length;
  return {done, total: cells.length, busy: panel.sessionContext.session?.kernel?.status !== 'idle', errors};
}""".replace("PANEL", PANEL_JS)


@pytest.mark.parametrize("notebook", list(SLIDERS))
def test_explorer_is_live_in_jupyterlab(notebook: str, lab: str, browser) -> None:  # noqa: F811 -- the imported fixture
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    tab = context.new_page()
    tab.goto(lab.format(notebook))
    tab.wait_for_function(f"() => window.jupyterapp && ({PANEL_JS})('{notebook}')?.sessionContext",
                          timeout=START_TIMEOUT_S * 1000)  # fmt: skip
    cancel = tab.get_by_role("button", name="Cancel")  # "Build Recommended" (an extension of dash, from open3d)
    if cancel.count():
        cancel.first.click()
    tab.evaluate(RUN_ALL_JS, notebook)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        state = tab.evaluate(STATE_JS, notebook)
        assert not state["errors"], f"{notebook}: {state['errors']}"
        if state["done"] == state["total"] and not state["busy"]:
            break
        assert time.monotonic() < deadline, f"{notebook}: ran {state['done']} of {state['total']} cells in time"
        time.sleep(2)

    slider = tab.locator(".widget-slider", has=tab.locator("label", has_text=SLIDERS[notebook])).first
    slider.scroll_into_view_if_needed()
    explorer = tab.locator(".widget-vbox", has=slider).last
    figure = explorer.locator(".js-plotly-plot").first
    figure.wait_for(state="visible", timeout=30_000)
    tab.wait_for_timeout(1000)  # plotly's first draw
    before = _pixels(figure)
    readout = slider.locator(".widget-readout").inner_text()
    slider.locator(".noUi-handle").focus()
    tab.keyboard.press("ArrowRight")
    tab.keyboard.press("ArrowRight")
    changed, deadline = 0, time.monotonic() + UPDATE_TIMEOUT_S
    while changed < MIN_CHANGED_PIXELS and time.monotonic() < deadline:
        tab.wait_for_timeout(1000)
        after = _pixels(figure)
        changed = changed_pixels(before, after) if after.shape == before.shape else after.size
    moved = slider.locator(".widget-readout").inner_text()
    context.close()
    assert moved != readout, f"{notebook}: the slider {SLIDERS[notebook]!r} did not move ({readout})"
    assert changed >= MIN_CHANGED_PIXELS, f"{notebook}: slider {readout} -> {moved} changed {changed} pixels"


# Scroll the open notebook to the Markdown cell that starts with PREFIX (JupyterLab renders only the cells in
# view); return the rendered cell's heading, its typeset-math count and whether raw TeX or MyST syntax shows.
EXERCISE_JS = r"""async ([name, prefix]) => {
  const panel = (PANEL)(name);
  const cells = panel.content.widgets;
  const i = cells.findIndex(c => c.model.type === 'markdown' && c.model.sharedModel.getSource().startsWith(prefix));
  if (i < 0) return {found: false};
  panel.content.activeCellIndex = i;
  await panel.content.scrollToItem(i, 'start');
  const node = cells[i].node.querySelector('.jp-RenderedMarkdown');
  if (!node) return {found: true, rendered: false};
  const text = node.textContent;
  return {found: true, rendered: true, heading: node.querySelector('h3')?.textContent.trim() ?? null,
          math: node.querySelectorAll('mjx-container, .MathJax').length,
          rawTex: /\$[^$]+\$|\\times|\\frac/.test(text), directive: /:label:|\{exercise\}/.test(text)};
}""".replace("PANEL", PANEL_JS)


def test_the_student_edition_renders_its_exercises_in_plain_jupyterlab(lab: str, browser) -> None:  # noqa: F811
    name = f"student_{STUDENT_CHAPTER}"
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    tab = context.new_page()
    tab.goto(lab.format(name))
    tab.wait_for_function(f"() => window.jupyterapp && ({PANEL_JS})('{name}')?.context?.isReady",
                          timeout=START_TIMEOUT_S * 1000)  # fmt: skip
    seen = {}
    for prefix in ("### Exercise 1.1", "### Exercise 1.3"):
        deadline = time.monotonic() + 60
        while True:  # MathJax typesets after the Markdown renders
            state = tab.evaluate(EXERCISE_JS, [name, prefix])
            if state.get("rendered") and (state["math"] or prefix.endswith("1.3")) or time.monotonic() > deadline:
                break
            tab.wait_for_timeout(1000)
        seen[prefix] = state
    context.close()
    first, third = seen["### Exercise 1.1"], seen["### Exercise 1.3"]
    assert (first.get("heading") or "").startswith("Exercise 1.1: Cropping instead of resizing"), seen
    assert (third.get("heading") or "").startswith("Exercise 1.3: Write scale_intrinsics yourself"), seen
    assert first["math"] > 0 and not first["rawTex"], f"exercise 1.1's math is not typeset: {first}"
    assert not first["directive"] and not third["directive"], seen
