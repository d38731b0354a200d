"""Print the book's single-page HTML build to one A4 PDF with Debian's headless Chromium.

    python scripts/print_pdf.py [--html _build/singlehtml] [--out _build/pdf/learning-depth.pdf]

Jupyter Book's own ``pdfhtml`` builder prints the same ``singlehtml`` page through a browser
it downloads; here the browser is the system's Chromium (the one the browser check uses),
driven by Playwright. Before printing, the page is made ready for paper:

* MathJax has typeset every equation (the script waits for it);
* every plotly figure has drawn and is replaced by a PNG of itself (``Plotly.toImage``), so
  3-D (WebGL) figures print too; a figure with sliders or buttons (an explorer) gets a line
  under it saying it is interactive in the HTML book, and prints at its initial state;
* the navigation (side bars, header, launch buttons) is hidden, a cover page is added, each
  chapter starts a new page, and no code cell, output or figure is split across pages.

The PDF gets an outline (bookmarks) from the headings and page numbers in the footer. A
JSON beside it records the page count, size, build time and the figures it holds.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import http.server
import json
import re
import shutil
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]  # fmt: skip
# A4 at 96 CSS px per inch is 794 px wide; with 12 mm margins the text is about 703 px wide.
PRINT_WIDTH_PX = 703
MARGIN = "12mm"
FOOTER = (
    '<div style="font-size:8px;width:100%;text-align:center;">'
    '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
)
TITLE = "Learning Depth: from one image to a dense point cloud"

PRINT_CSS = """
@page { size: A4; }
.bd-header, .bd-sidebar-primary, .bd-sidebar-secondary, .header-article, .bd-header-article,
.prev-next-area, .bd-footer, .bd-footer-content, footer, .article-header-buttons, .headerlink,
.copybtn, .dropdown-launch-buttons, .skip-link, .search-button__wrapper, #pst-back-to-top,
.toggle-hidden-button, .sidebar-toggle { display: none !important; }
.bd-main, .bd-content, .bd-article-container, .bd-article, .bd-page-width { max-width: none !important;
  width: 100% !important; margin: 0 !important; padding: 0 !important; }
body { font-size: 10.5pt; }
div.cell, div.cell_input, div.cell_output, figure, img, .print-plotly, .MathJax_Display, mjx-container[display],
table, .admonition, details { break-inside: avoid; page-break-inside: avoid; }
h1, h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
section > h1 { break-before: page; page-break-before: always; }
.print-cover { height: 250mm; display: flex; flex-direction: column; justify-content: center;
  text-align: center; break-after: page; page-break-after: always; }
.print-cover h1 { break-before: auto !important; font-size: 28pt; }
.print-note { font-style: italic; font-size: 9pt; color: #444; margin: 2px 0 10px 0; }
img { max-width: 100% !important; height: auto; }
"""

# Replaces every drawn plotly figure by a PNG of itself; returns (figures, interactive ones).
PLOTLY_TO_PNG = """
async (width) => {
  const divs = Array.from(document.querySelectorAll('.js-plotly-plot'));
  let interactive = 0;
  for (const gd of divs) {
    const lay = gd._fullLayout;
    const w = Math.min(width, lay.width), h = Math.round(lay.height * Math.min(width, lay.width) / lay.width);
    const url = await Plotly.toImage(gd, {format: 'png', width: lay.width, height: lay.height, scale: 2});
    const img = document.createElement('img');
    img.src = url; img.className = 'print-plotly'; img.style.width = w + 'px'; img.style.height = h + 'px';
    img.alt = (lay.title && lay.title.text) ? lay.title.text : 'interactive figure';
    const holder = gd.closest('.plotly-graph-div') || gd;
    holder.parentElement.style.height = 'auto';  // plotly's wrapper div keeps the figure's height
    holder.replaceWith(img);
    const controls = (lay.sliders || []).length + (lay.updatemenus || []).length;
    if (controls) {
      interactive += 1;
      const note = document.createElement('p');
      note.className = 'print-note';
      note.textContent = 'Interactive in the HTML book (and in the notebook): printed at its initial setting; '
        + 'move its sliders or buttons there.';
      img.after(note);
    }
  }
  return [divs.length, interactive];
}
"""

# Every plotly figure has its layout and plotting area; MathJax has typeset the page.
READY = """
() => {
  const mj = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
  const figs = Array.from(document.querySelectorAll('.js-plotly-plot'));
  // data-book-layout: book/_static/plotly_narrow.js has chosen the figure's layout for this width
  return figs.every(gd => gd._fullLayout && gd.querySelector('.main-svg') && gd.dataset.bookLayout);
}
"""

COVER = """
(title) => {
  const cover = document.createElement('div');
  cover.className = 'print-cover';
  const h = document.createElement('h1'); h.textContent = title;
  const p = document.createElement('p');
  p.textContent = 'Printed from the HTML book on ' + new Date().toISOString().slice(0, 10)
    + '. The interactive figures and the runnable chapters are in the HTML book and the notebooks.';
  cover.append(h, p);
  const main = document.querySelector('article') || document.querySelector('main') || document.body;
  main.prepend(cover);
}
"""


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A local HTTP server of ``folder`` (MathJax and plotly load their parts by URL)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def print_pdf(html: Path, out: Path, timeout_ms: int = 240_000) -> dict:
    """Print ``html/index.html`` to ``out``; returns the report also written to ``out.with_suffix('.json')``."""
    from playwright.sync_api import sync_playwright

    index = html / "index.html"
    if not index.is_file():
        raise FileNotFoundError(f"no single-page build at {html}: run `jupyter-book build . --builder singlehtml`")
    redirect = re.search(r'url=([^"]+)"', index.read_text(encoding="utf-8"))
    # The single page: Jupyter Book writes it as the root document's page (book/intro.html) with
    # links relative to the build's root, and an index.html that redirects to it.
    single = html / (redirect.group(1) if redirect else "index.html")
    start = time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    httpd, url = serve(html)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": PRINT_WIDTH_PX, "height": 1000})
            page.route(f"{url}/index.html", lambda route: route.fulfill(path=single))
            page.goto(f"{url}/index.html", wait_until="load", timeout=timeout_ms)
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                   timeout=timeout_ms)  # fmt: skip
            page.evaluate("() => MathJax.startup.promise")
            page.wait_for_function(READY, timeout=timeout_ms)
            page.add_style_tag(content=PRINT_CSS)
            page.evaluate(COVER, TITLE)
            page.evaluate("() => window.dispatchEvent(new Event('resize'))")
            figures, interactive = page.evaluate(PLOTLY_TO_PNG, PRINT_WIDTH_PX)
            page.wait_for_function("() => Array.from(document.images).every(i => i.complete)", timeout=timeout_ms)
            page.emulate_media(media="print")
            page.pdf(path=str(out), format="A4", print_background=True, outline=True, tagged=True,
                     margin={"top": MARGIN, "bottom": MARGIN, "left": MARGIN, "right": MARGIN},
                     display_header_footer=True, header_template="<span></span>",
                     footer_template=FOOTER)  # fmt: skip
            images = page.evaluate("() => document.querySelectorAll('.cell_output img').length")
            browser.close()
    finally:
        httpd.shutdown()
    from pypdf import PdfReader

    report = {
        "pdf": str(out.resolve().relative_to(ROOT) if ROOT in out.resolve().parents else out),
        "pages": len(PdfReader(out).pages),
        "megabytes": round(out.stat().st_size / 2**20, 1),
        "seconds": round(time.monotonic() - start, 1),
        "plotly_figures": figures,
        "interactive_figures": interactive,
        "output_images": images,
        "printed": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--html", type=Path, default=ROOT / "_build" / "singlehtml")
    ap.add_argument("--out", type=Path, default=ROOT / "_build" / "pdf" / "learning-depth.pdf")
    args = ap.parse_args()
    report = print_pdf(args.html, args.out)
    print(f"{report['pdf']}: {report['pages']} pages, {report['megabytes']} MB, printed in {report['seconds']} s "
          f"({report['output_images']} images, {report['plotly_figures']} plotly figures)")  # fmt: skip


if __name__ == "__main__":
    main()
