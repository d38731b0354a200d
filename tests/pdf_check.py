"""Checks of the printed book, ``_build/pdf/learning-depth.pdf`` (``make pdf`` runs them after printing).

Not collected by ``make unit`` or ``make browser`` (the file name does not start with ``test_``):
``make pdf`` names it. The PDF must exist, have one outline entry per chapter of ``_toc.yml``,
hold no TeX that MathJax left unrendered, hold at least one drawn image per figure of the
single-page HTML it was printed from, keep every figure's number, note each explorer as
interactive in the HTML book, and its pages must not be blank.
"""

from __future__ import annotations

import html.parser
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PDF = ROOT / "_build" / "pdf" / "learning-depth.pdf"
SINGLE = ROOT / "_build" / "singlehtml" / "book" / "intro.html"
# Text that only appears when a formula was printed as its TeX source.
# (``$`` alone is no sign: the API page names the shell variable ``$MVDLIB_BUDGET``.)
RAW_TEX = re.compile(r"\$\$|\$\\|\\(frac|mathbf|mathrm|sum|hat|left|right|begin|operatorname|cdot|lambda|sigma)\b")

pypdf = pytest.importorskip("pypdf")


@pytest.fixture(scope="module")
def reader() -> pypdf.PdfReader:
    if not PDF.is_file():
        pytest.fail(f"{PDF} missing: run `make pdf`")
    return pypdf.PdfReader(PDF)


def toc_chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [c["file"] for part in toc["parts"] for c in part["chapters"] if c["file"].startswith("chapters/")]


def titles(outline: list) -> list[str]:
    out: list[str] = []
    for item in outline:
        out += titles(item) if isinstance(item, list) else [item.title]
    return out


def chapter_title(notebook: str) -> str:
    import json

    cells = json.loads((ROOT / f"{notebook}.ipynb").read_text())["cells"]
    for cell in cells:
        for line in "".join(cell["source"]).splitlines():
            if cell["cell_type"] == "markdown" and line.startswith("# "):
                return line[2:].strip()
    raise AssertionError(f"{notebook} has no title")


class _Figures(html.parser.HTMLParser):
    """Counts the figures of the single page: images in cell outputs and plotly figures."""

    def __init__(self) -> None:
        super().__init__()
        self.images = self.plotly = 0
        self._output_depth: list[int] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "img" and self._output_depth:
            self.images += 1
        if "plotly-graph-div" in classes:
            self.plotly += 1
        if tag == "div":
            self._depth += 1
            if "cell_output" in classes:
                self._output_depth.append(self._depth)

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            if self._output_depth and self._output_depth[-1] == self._depth:
                self._output_depth.pop()
            self._depth -= 1


def test_outline_has_every_chapter(reader: pypdf.PdfReader) -> None:
    # Chromium's outline drops the space at a heading's line break: compare without spaces.
    entries = [re.sub(r"\s+", "", t) for t in titles(reader.outline)]
    missing = [c for c in toc_chapters() if not any(re.sub(r"\s+", "", chapter_title(c)) in e for e in entries)]
    assert not missing, f"chapters missing from the PDF outline: {missing} (outline: {entries[:40]})"


def test_no_unrendered_tex(reader: pypdf.PdfReader) -> None:
    text = subprocess.run(["pdftotext", str(PDF), "-"], check=True, capture_output=True, text=True).stdout
    pages = text.split("\f")
    assert len(pages) >= len(reader.pages), "pdftotext should give the text of every page"
    bad = [(number, m.group(0)) for number, page in enumerate(pages, 1) for m in RAW_TEX.finditer(page)]
    assert not bad, f"unrendered TeX in the PDF (page, text): {bad[:10]}"


def test_an_image_for_every_figure(reader: pypdf.PdfReader) -> None:
    figures = _Figures()
    figures.feed(SINGLE.read_text(encoding="utf-8"))
    assert figures.images + figures.plotly >= 60, "the single-page HTML should hold the book's figures"
    drawn = sum(len(page.images) for page in reader.pages)
    assert drawn >= figures.images + figures.plotly, (
        f"the PDF has {drawn} images, the HTML {figures.images} output images and {figures.plotly} plotly figures"
    )


def test_figures_numbered_and_explorers_noted() -> None:
    """Every figure keeps its number and caption in print, and each explorer (a plotly figure
    with sliders) has the note under its print saying it is interactive in the HTML book."""
    text = subprocess.run(["pdftotext", str(PDF), "-"], check=True, capture_output=True, text=True).stdout
    flat = re.sub(r"\s+", " ", text)
    single = SINGLE.read_text(encoding="utf-8")
    captions = len(re.findall(r'<span class="caption-number">Fig', single))  # not the exercises' numbers
    numbers = set(re.findall(r"Fig\. (\d+\.\d+|\d+)", flat))
    assert captions >= 60 and len(numbers) >= captions, f"{captions} captions in the HTML, {len(numbers)} in the PDF"
    explorers = len(re.findall(r'"sliders":\s*\[\{', single))
    notes = flat.count("Interactive in the HTML book")
    assert explorers >= 5 and notes >= explorers, f"{explorers} explorers, {notes} notes in the PDF"


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_pages_are_not_blank(reader: pypdf.PdfReader, fraction: float, tmp_path: Path) -> None:
    page = 1 + round(fraction * (len(reader.pages) - 1))
    subprocess.run(["pdftoppm", "-r", "40", "-gray", "-f", str(page), "-l", str(page), str(PDF), str(tmp_path / "p")],
                   check=True)  # fmt: skip
    (image,) = tmp_path.glob("p*.pgm")
    data = image.read_bytes()
    header = data.split(b"\n", 3)  # P5, width height, maxval, pixels
    width, height = map(int, header[1].split())
    pixels = np.frombuffer(data[-width * height :], dtype=np.uint8)
    ink = (pixels < 200).mean()
    assert ink > 0.005, f"page {page} of {len(reader.pages)} is blank ({ink:.2%} of its pixels are dark)"
