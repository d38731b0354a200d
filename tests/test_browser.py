"""Open every page of the built book in headless Chromium, offline, and check what a reader sees.

Run by ``make browser`` after the book build (marker ``book``). A page fails on a JavaScript
error, a request that leaves this machine (the book must read offline), an equation MathJax
did not render, an image or plotly figure that did not load (3-D ones need their WebGL
canvas), a Markdown table of a cell output left as text, or an internal link to a missing
page or anchor. A screenshot of every page is kept in ``_build/screenshots``.
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
