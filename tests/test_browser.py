"""Open every page of the built book in headless Chromium, offline, and check what a reader sees.

Run by ``make browser`` after the book build (marker ``book``). A page fails on a JavaScript
error, a request that leaves this machine (the book must read offline), an equation MathJax
did not render, an image or plotly figure that did not load (3-D ones need their WebGL
canvas), a Markdown table of a cell output left as text, or an internal link to a missing
page or anchor. A screenshot of every page is kept in ``_build/screenshots``.

Every interactive (plotly) figure is then checked for what it draws, at the book's content
width: each heat map and image trace has its drawn element in its subplot, each WebGL
subplot (3-D scenes, ``scattergl``) paints pixels, no title overlaps another title, a tick
label or a legend entry, no axis title reaches into another subplot, no figure plays its
frames by itself, and moving each slider changes the pixels of the plotting area. The same
checks run at a phone's width (390 x 844, touch), where every panel must be at least 250 px
wide (one column, laid out by ``book/_static/plotly_narrow.js``) and the page must not scroll
sideways.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import re
import shutil
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a headless Chromium on a closed network with a fresh profile.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
MATHJAX_TIMEOUT_MS = 30_000

pytestmark = pytest.mark.book


REDIRECT = re.compile(r'<meta http-equiv="Refresh" content="0; url=([^"]+)"', re.I)


def book_pages() -> list[Path]:
    """Every content page of the built book (redirect stubs such as index.html excluded)."""
    skip = {"_static", "_sources", "_images", "_sphinx_design_static"}
    pages = (p for p in HTML.rglob("*.html") if not skip & set(p.relative_to(HTML).parts))
    return sorted(p for p in pages if not REDIRECT.search(p.read_text(encoding="utf-8")))


class _Anchors(html.parser.HTMLParser):
    """Collects element ids and link targets of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])


@functools.cache
def parse(page: Path) -> _Anchors:
    p = _Anchors()
    p.feed(page.read_text(encoding="utf-8"))
    return p


def broken_internal_links(page: Path) -> list[str]:
    broken = []
    for href in parse(page).links:
        url = urllib.parse.urlsplit(href)
        if url.scheme or url.netloc or href.startswith(("mailto:", "javascript:")):
            continue
        target = (page.parent / urllib.parse.unquote(url.path)).resolve() if url.path else page
        if target.is_dir():
            target = target / "index.html"
        if not target.exists():
            broken.append(f"{href} (no file {target.relative_to(HTML) if HTML in target.parents else target})")
        elif url.fragment and target.suffix == ".html" and url.fragment not in parse(target).ids:
            broken.append(f"{href} (no anchor #{url.fragment})")
    return broken


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    if not (HTML / "index.html").exists():
        pytest.fail("the book is not built: run `make book-strict` first (_build/html/index.html missing)")

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


PAGE_CHECKS_JS = r"""() => {
  const unrendered = [...document.querySelectorAll('.math')]
      .filter(e => !e.querySelector('mjx-container') || e.querySelector('mjx-merror'))
      .map(e => e.textContent.slice(0, 80));
  const images = [...document.images]
      .filter(img => !(img.complete && img.naturalWidth > 0))
      .map(img => img.getAttribute('src'));
  const plots = [...document.querySelectorAll('.plotly-graph-div')]
      .filter(d => !d.querySelector('.main-svg')).map(d => d.id);
  // A Markdown table in a cell output that reached the page as text ("| a | b |" over "| --- | --- |").
  const rawTables = [...document.querySelectorAll('.cell_output .output.text_markdown, .cell_output p')]
      .filter(e => /\|\s*(-{3}|\u2014)\s*\|/.test(e.textContent)).map(e => e.textContent.slice(0, 80));
  // A 3-D plotly figure draws into a WebGL canvas; without WebGL plotly prints a notice instead.
  const scenes = [...document.querySelectorAll('.plotly-graph-div')]
      .filter(d => d._fullLayout && d._fullLayout._has('gl3d') && !d.querySelector('.gl-container canvas'))
      .map(d => d.id);
  if (document.body.innerText.includes('WebGL is not supported')) scenes.push('(WebGL is not supported)');
  return {unrendered, images, plots, rawTables, scenes, nmath: document.querySelectorAll('.math').length};
}"""


def test_index_redirects_to_an_existing_page() -> None:
    assert (HTML / "index.html").exists(), "run `make book-strict` first"
    target = REDIRECT.search((HTML / "index.html").read_text(encoding="utf-8"))
    assert target and (HTML / target.group(1)).exists()
    assert len(book_pages()) >= 5


@pytest.mark.parametrize("page", book_pages(), ids=lambda p: str(p.relative_to(HTML)))
def test_page_reads_offline(page: Path, server: str, browser) -> None:
    rel = page.relative_to(HTML).as_posix()
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.on("pageerror", lambda exc: errors.append(f"JavaScript error: {exc}"))
    tab.on("console", lambda msg: errors.append(f"console error: {msg.text}") if msg.type == "error" else None)

    def only_local(route, request) -> None:
        if request.url.startswith(server):
            route.continue_()
        else:
            errors.append(f"request leaves the machine: {request.url}")
            route.abort()

    tab.route("**/*", only_local)
    tab.goto(f"{server}/{rel}", wait_until="load")
    if tab.evaluate("() => document.querySelector('.math') !== null"):
        # MathJax typesets asynchronously: wait until its startup promise has resolved.
        tab.wait_for_function("() => window.MathJax && MathJax.startup", timeout=MATHJAX_TIMEOUT_MS)
        tab.evaluate("() => MathJax.startup.promise")
    result = tab.evaluate(PAGE_CHECKS_JS)
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / (rel.replace("/", "__").removesuffix(".html") + ".png")))
    context.close()

    problems = list(errors)
    problems += [f"unrendered equation: {m!r}" for m in result["unrendered"]]
    problems += [f"image did not load: {src}" for src in result["images"]]
    problems += [f"plotly figure did not render: #{d}" for d in result["plots"]]
    problems += [f"Markdown table shown as text: {t!r}" for t in result["rawTables"]]
    problems += [f"3-D figure without a WebGL canvas: #{d}" for d in result["scenes"]]
    problems += [f"broken internal link: {b}" for b in broken_internal_links(page)]
    assert not problems, f"{rel}:\n  " + "\n  ".join(problems)


# ---- interactive figures: drawn elements, pixels, room, sliders ------------------------------

FIGURE_VIEWPORT = {"width": 1280, "height": 1600}  # the book's layout at 1280 px, tall enough for a figure
SLIDER_SETTLE_MS = 600  # a slider step animates with duration 0; this leaves time to redraw
MIN_CHANGED_PIXELS = 50  # fewer differing pixels than this is "nothing drawn" / "nothing changed"

# For one figure: the drawn element each heat map / image trace must have in its subplot, the
# viewport rectangle of every subplot (and whether WebGL draws it), and overlapping text.
FIGURE_JS = r"""(gd) => {
  const fl = gd._fullLayout, box = gd.getBoundingClientRect(), problems = [], subplots = {};
  const rect = (l, t, w, h) => ({x: box.left + l, y: box.top + t, width: w, height: h});
  for (const [id, p] of Object.entries(fl._plots || {}))
    subplots[id] = {rect: rect(p.xaxis._offset, p.yaxis._offset, p.xaxis._length, p.yaxis._length), gl: false};
  for (const id of fl._subplots.gl3d || []) {
    const d = fl[id].domain, s = fl._size;
    subplots[id] = {rect: rect(s.l + d.x[0] * s.w, s.t + (1 - d.y[1]) * s.h, (d.x[1] - d.x[0]) * s.w,
                               (d.y[1] - d.y[0]) * s.h), gl: true};
  }
  const expected = {};
  for (const t of gd._fullData) {
    if (t.visible !== true) continue;
    const id = t.scene || (t.xaxis + t.yaxis);
    if (t.type.endsWith('gl') || t.scene) { if (subplots[id]) subplots[id].gl = true; continue; }
    if (t.type === 'heatmap' || t.type === 'image') {
      const key = id + ' ' + t.type;
      expected[key] = (expected[key] || 0) + 1;
    }
  }
  for (const [key, n] of Object.entries(expected)) {
    const [id, type] = key.split(' ');
    const layer = type === 'heatmap' ? '.heatmaplayer image' : '.imagelayer image';
    const drawn = [...gd.querySelectorAll('.subplot.' + id + ' ' + layer)].filter(e => {
      const r = e.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && (e.getAttribute('href') || '').startsWith('data:');
    }).length;
    if (drawn < n) problems.push(`subplot ${id}: ${n} ${type} trace(s), ${drawn} drawn`);
  }
  // Titles (figure, axes, colour bars, subplot titles) must not overlap each other, tick labels
  // or legend entries, nor stick out of the figure.
  const shown = e => { const r = e.getBoundingClientRect();
                       return r.width > 0 && r.height > 0 && e.textContent.trim() ? r : null; };
  const texts = [...gd.querySelectorAll('text')].map(e => {
    const cls = e.getAttribute('class') || '', parent = e.parentNode.getAttribute('class') || '';
    const kind = /title$/.test(cls) || cls === 'annotation-text' ? 'title'
               : /tick$/.test(parent) ? 'tick' : cls === 'legendtext' ? 'legend' : null;
    return {kind, r: kind && shown(e), label: `${kind} "${e.textContent.trim().slice(0, 40)}"`};
  }).filter(t => t.r);
  const hit = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 &&
                        Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
  texts.forEach((a, i) => {
    if (a.kind === 'title' && (a.r.left < box.left - 1 || a.r.right > box.right + 1))
      problems.push(`${a.label} sticks out of the figure`);
    texts.slice(i + 1).forEach(b => {
      if ((a.kind === 'title' || b.kind === 'title' || a.kind !== b.kind) && hit(a.r, b.r))
        problems.push(`${a.label} overlaps ${b.label}`);
    });
  });
  // An axis title must not reach into another subplot's plotting area.
  for (const e of gd.querySelectorAll('.infolayer text[class$="title"]')) {
    const axis = (e.getAttribute('class').match(/^([xy]\d*)title$/) || [])[1], r = shown(e);
    if (!axis || !r) continue;
    for (const [id, sub] of Object.entries(subplots)) {
      const [, xa, ya] = id.match(/^(x\d*)(y\d*)$/) || [];
      const q = sub.rect, inside = {left: q.x, right: q.x + q.width, top: q.y, bottom: q.y + q.height};
      if (xa && axis !== xa && axis !== ya && hit(r, inside))
        problems.push(`title "${e.textContent.trim()}" reaches into subplot ${id}`);
    }
  }
  const sliders = (fl.sliders || []).map(s => ({active: s.active, steps: s.steps.length}));
  const s = fl._size;
  return {problems, subplots, sliders, plotArea: rect(s.l, s.t, s.w, s.h)};
}"""

# The viewport positions of a slider's step ticks and of its rail (clicking the rail at a
# tick's x moves the slider to that step, as a reader's click does).
SLIDER_JS = r"""(gd, k) => {
  const g = gd.querySelectorAll('.slider-group')[k];
  const rail = g.querySelector('.slider-rail-touch-rect').getBoundingClientRect();
  const ticks = [...g.querySelectorAll('.slider-tick-rect')].map(t => { const r = t.getBoundingClientRect();
                                                                      return r.left + r.width / 2; });
  return {ticks, y: rail.top + rail.height / 2, active: gd._fullLayout.sliders[k].active};
}"""


STILL_MS = 1000
# book/_static/plotly_narrow.js lays every plotly figure out anew, in one column, where it is
# narrower than 600 px (a phone); it marks each figure with data-book-layout="narrow" or "wide".
LAID_OUT_JS = "() => [...document.querySelectorAll('.plotly-graph-div')].every(d => d.dataset.bookLayout)"
LAYOUTS_JS = "() => [...document.querySelectorAll('.plotly-graph-div')].map(d => d.dataset.bookLayout)"
OPENED_JS = f"""() => [...document.querySelectorAll('.plotly-graph-div')].map(gd => {{
  const {{problems}} = ({FIGURE_JS})(gd);
  return {{problems: problems.filter(p => p.includes(' drawn')),
           active: (gd._fullLayout.sliders || []).map(s => s.active)}};
}})"""


def figure_pages() -> list[Path]:
    return [p for p in book_pages() if "plotly-graph-div" in p.read_text(encoding="utf-8")]


def _pixels(tab, rect: dict) -> np.ndarray:
    png = tab.screenshot(clip={k: rect[k] for k in ("x", "y", "width", "height")})
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR).astype(np.int16)


def changed_pixels(a: np.ndarray, b: np.ndarray) -> int:
    return int((np.abs(a - b).max(axis=-1) > 8).sum())


def _webgl_pixels(tab, figure, rect: dict) -> int:
    """How many pixels of ``rect`` the figure's WebGL canvases paint (screenshots with them shown and hidden)."""
    shown = _pixels(tab, rect)
    figure.evaluate("gd => gd.querySelectorAll('canvas').forEach(c => c.style.visibility = 'hidden')")
    hidden = _pixels(tab, rect)
    figure.evaluate("gd => gd.querySelectorAll('canvas').forEach(c => c.style.visibility = '')")
    return changed_pixels(shown, hidden)


def check_figure(tab, figure, name: str) -> list[str]:
    """What is wrong with one plotly figure: see :data:`FIGURE_JS`, then every slider moved once."""
    figure.scroll_into_view_if_needed()
    info = figure.evaluate(FIGURE_JS)
    problems = [f"{name}: {p}" for p in info["problems"]]
    for id_, sub in info["subplots"].items():
        if sub["gl"] and _webgl_pixels(tab, figure, sub["rect"]) < MIN_CHANGED_PIXELS:
            problems.append(f"{name}: WebGL subplot {id_} paints nothing")
    for k in range(len(info["sliders"])):
        before = _pixels(tab, info["plotArea"])
        slider = figure.evaluate(SLIDER_JS, k)
        target = len(slider["ticks"]) - 1 if slider["active"] != len(slider["ticks"]) - 1 else 0
        tab.mouse.click(slider["ticks"][target], slider["y"])
        tab.wait_for_timeout(SLIDER_SETTLE_MS)
        moved = figure.evaluate(SLIDER_JS, k)["active"]
        changed = changed_pixels(before, _pixels(tab, info["plotArea"]))
        if moved != target:
            problems.append(f"{name}: slider {k} did not move to step {target} (at {moved})")
        elif changed < MIN_CHANGED_PIXELS:
            problems.append(f"{name}: moving slider {k} to step {target} changed {changed} pixels of the plots")
        problems += [f"{name}, slider {k} at step {target}: {p}" for p in figure.evaluate(FIGURE_JS)["problems"]]
    return problems


@pytest.mark.parametrize("page", figure_pages(), ids=lambda p: str(p.relative_to(HTML)))
def test_interactive_figures_draw_and_respond(page: Path, server: str, browser) -> None:
    rel = page.relative_to(HTML).as_posix()
    context = browser.new_context(viewport=FIGURE_VIEWPORT)
    tab = context.new_page()
    tab.goto(f"{server}/{rel}", wait_until="load")
    tab.wait_for_function(LAID_OUT_JS)
    figures = tab.locator(".plotly-graph-div")
    # As the page opens: every figure has drawn, and none plays by itself (plotly's auto_play
    # animates through a figure's frames on load, and draws no heat map or image meanwhile).
    opened = tab.evaluate(OPENED_JS)
    tab.wait_for_timeout(STILL_MS)
    problems = [f"figure {i + 1}: as the page opens, {p}" for i, f in enumerate(opened) for p in f["problems"]]
    problems += [f"figure {i + 1}: laid out {k!r} at the desktop width, not 'wide'"
                 for i, k in enumerate(tab.evaluate(LAYOUTS_JS)) if k != "wide"]  # fmt: skip
    problems += [f"figure {i + 1}: plays by itself (slider steps {a['active']} -> {b['active']} in {STILL_MS} ms)"
                 for i, (a, b) in enumerate(zip(opened, tab.evaluate(OPENED_JS), strict=True))
                 if a["active"] != b["active"]]  # fmt: skip
    for i in range(figures.count()):
        problems += check_figure(tab, figures.nth(i), f"figure {i + 1} (#{figures.nth(i).get_attribute('id')})")
    context.close()
    assert not problems, f"{rel}:\n  " + "\n  ".join(problems)


# A phone held upright (an iPhone 12-15's CSS viewport), with touch.
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
MIN_PANEL_PX = 250  # narrower than this, a heat map or a curve cannot be read
PHONE_SCREENSHOT_HEIGHT = 2400  # px: taller than any figure laid out in one column

PANEL_WIDTHS_JS = r"""(gd) => {
  const fl = gd._fullLayout, out = {};
  for (const [id, p] of Object.entries(fl._plots || {})) out[id] = Math.round(p.xaxis._length);
  for (const id of fl._subplots.gl3d || [])
    out[id] = Math.round((fl[id].domain.x[1] - fl[id].domain.x[0]) * fl._size.w);
  return out;
}"""


@pytest.mark.parametrize("page", figure_pages(), ids=lambda p: str(p.relative_to(HTML)))
def test_interactive_figures_on_a_phone(page: Path, server: str, browser) -> None:
    """At 390 x 844 with touch: no sideways scrolling of the page, every panel at least
    ``MIN_PANEL_PX`` wide, and the desktop checks (titles apart, sliders that move the plots)."""
    rel = page.relative_to(HTML).as_posix()
    context = browser.new_context(**PHONE)
    tab = context.new_page()
    tab.goto(f"{server}/{rel}", wait_until="load")
    tab.wait_for_function(LAID_OUT_JS)
    problems = [f"figure {i + 1}: laid out {k!r} at a phone's width, not 'narrow'"
                for i, k in enumerate(tab.evaluate(LAYOUTS_JS)) if k != "narrow"]  # fmt: skip
    overflow = tab.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth")
    if overflow > 1:
        problems.append(f"the page scrolls sideways by {overflow} px")
    figures = tab.locator(".plotly-graph-div")
    for i in range(figures.count()):
        name = f"figure {i + 1} (#{figures.nth(i).get_attribute('id')})"
        narrow = {k: w for k, w in figures.nth(i).evaluate(PANEL_WIDTHS_JS).items() if w < MIN_PANEL_PX}
        if narrow:
            problems.append(f"{name}: panels narrower than {MIN_PANEL_PX} px: {narrow}")
    # One column makes a figure taller than the phone's screen: a taller window (the same width,
    # so the same layout) lets the screenshots of the slider check see the whole of it.
    tab.set_viewport_size({"width": PHONE["viewport"]["width"], "height": PHONE_SCREENSHOT_HEIGHT})
    tab.wait_for_timeout(SLIDER_SETTLE_MS)
    for i in range(figures.count()):
        name = f"figure {i + 1} (#{figures.nth(i).get_attribute('id')})"
        problems += check_figure(tab, figures.nth(i), name)
    context.close()
    assert not problems, f"{rel} at a phone's width:\n  " + "\n  ".join(problems)


README_PICTURES = ROOT / "book" / "_static" / "readme"
# (page, figure index on the page, picture): what the README's first screen shows.
README_SHOTS = [
    ("chapters/05_depth_losses.html", 0, "loss_explorer.png"),
    ("chapters/12_dense_point_cloud.html", 1, "fused_cloud.png"),
]


def test_readme_pictures_from_the_built_book(server: str, browser) -> None:
    """The README's pictures are screenshots of the built book's figures, retaken by every browser check."""
    README_PICTURES.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=FIGURE_VIEWPORT)
    tab = context.new_page()
    for rel, index, name in README_SHOTS:
        tab.goto(f"{server}/{rel}", wait_until="load")
        tab.wait_for_function("() => [...document.querySelectorAll('.plotly-graph-div')].every(d => d._fullLayout)")
        figure = tab.locator(".plotly-graph-div").nth(index)
        figure.scroll_into_view_if_needed()
        tab.wait_for_timeout(SLIDER_SETTLE_MS)
        figure.screenshot(path=str(README_PICTURES / name))
        image = cv2.imread(str(README_PICTURES / name))
        assert image is not None and image.shape[1] >= 600, f"{name}: screenshot missing or too small"
        assert image.std() > 10, f"{name}: the screenshot is blank"
    context.close()


# ---- figures as a reader meets them: captions, alt text, size -------------------------------

MIN_SHOWN = 0.6  # an image shown below this fraction of its own width must open full size

FIGURES_JS = r"""() => {
  const out = [];
  const images = [...document.querySelectorAll('.cell_output img, figure img')];
  const plots = [...document.querySelectorAll('.cell_output .plotly-graph-div')];
  for (const e of [...images, ...plots]) {
    const fig = e.closest('figure'), cap = fig && fig.querySelector('figcaption');
    const number = cap && cap.querySelector('.caption-number'), r = e.getBoundingClientRect();
    out.push({kind: e.tagName === 'IMG' ? 'image' : 'plotly', src: (e.getAttribute('src') || e.id).slice(-60),
              alt: e.tagName === 'IMG' ? e.getAttribute('alt') : null,
              caption: cap ? cap.textContent.trim() : '', number: number ? number.textContent : '',
              shown: e.tagName === 'IMG' && e.naturalWidth ? r.width / e.naturalWidth : 1,
              zoom: e.dataset ? e.dataset.bookZoom === '1' : false});
  }
  return {figures: out, pdf: !!document.querySelector('.book-pdf-link a[href$="learning-depth.pdf"]')};
}"""


def test_every_figure_has_a_number_a_caption_and_alt_text(server: str, browser) -> None:
    """Every figure of a chapter is numbered and captioned, every image has alt text that is not
    a file path, every page links to the PDF, and an image shown below ``MIN_SHOWN`` of its width
    (a wide figure in the 704 px column) opens full size on a click (book/_static/zoom.js)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    problems, seen, zoomed = [], 0, 0
    for page in book_pages():
        rel = page.relative_to(HTML).as_posix()
        tab.goto(f"{server}/{rel}", wait_until="load")
        tab.wait_for_function("() => [...document.images].every(i => i.complete)")
        info = tab.evaluate(FIGURES_JS)
        if not info["pdf"]:
            problems.append(f"{rel}: no link to the PDF")
        for k, f in enumerate(info["figures"]):
            seen += 1
            name = f"{rel} {f['kind']} {k + 1} ({f['src']})"
            if not f["caption"] or not f["number"].startswith("Fig"):
                problems.append(f"{name}: no numbered caption ({f['number']!r} {f['caption'][:40]!r})")
            if f["kind"] == "image" and (not f["alt"] or re.search(r"[/\\]|\.(png|jpe?g|svg|gif)$", f["alt"])):
                problems.append(f"{name}: alt text {f['alt']!r} is empty or a file path")
            if f["shown"] < MIN_SHOWN and not f["zoom"]:
                problems.append(f"{name}: shown at {f['shown']:.0%} of its width and cannot be enlarged")
        # One enlargement per page: the overlay shows the image at (nearly) its own width.
        small = tab.locator("img[data-book-zoom='1']")
        if small.count():
            small.first.scroll_into_view_if_needed()
            small.first.click()
            big = tab.locator(".book-zoom-overlay img")
            ratio = big.evaluate("i => i.getBoundingClientRect().width / i.naturalWidth") if big.count() else 0
            if ratio < 0.9:
                problems.append(f"{rel}: clicking a small figure shows it at {ratio:.0%} of its width")
            tab.keyboard.press("Escape")
            if tab.locator(".book-zoom-overlay").count():
                problems.append(f"{rel}: Escape does not close the enlarged figure")
            zoomed += 1
    context.close()
    assert seen >= 70, f"only {seen} figures found in the built book"
    assert zoomed >= 5, f"only {zoomed} pages with a figure to enlarge"
    assert not problems, "\n  ".join(problems)
