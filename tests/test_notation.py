"""One symbol per quantity: the retired notations of the review (issue 14) stay retired.

``book/notation.md`` fixes one symbol for each quantity. Earlier drafts wrote inverse depth
as rho, q and s, indexed the multi-scale loss from 1 in one chapter and from 0 in another,
called both the skew and the scale index s, used d for a disparity and for a log-depth
difference, and wrote poses with a comma. Each pattern below is one of those forms; none
may come back in the book's prose.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "chapters").glob("*.ipynb")) + sorted((ROOT / "book").glob("*.md"))

RETIRED = {
    "pose with a comma (write T_{b<-a})": r"T_\{?\\text\{\w+\s*,\s*\w+\}",
    "inverse depth not written xi": r"(?<![\\\w])(?:q|s|\\rho)\s*=\s*1\s*/\s*d\b",
    "scale index counted from 1 (s = 0..3)": r"\\sum_\{s\s*=\s*1\}",
    "skew not written gamma": r"skew \$(?!\\gamma)",
    "disparity written d (write Delta u)": r"disparity (?:of )?\$d\b",
    "log-depth error written d_i (write e_i)": r"\bd_i\s*=\s*\\log",
}


def prose(path: Path) -> str:
    if path.suffix == ".md":
        return path.read_text()
    nb = nbformat.read(path, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_retired_notation(path: Path) -> None:
    text = prose(path)
    found = {what: m.group(0) for what, rx in RETIRED.items() if (m := re.search(rx, text))}
    assert not found, f"{path.relative_to(ROOT)}: {found} (see book/notation.md)"


@pytest.mark.parametrize(
    "old",
    [
        "$T_\\text{world,cam}$",
        "$T_{\\text{src,ref}}$",
        "$q = 1/d$",
        "$\\rho = 1/d$",
        "$s = 1/d$",
        "\\sum_{s=1}^{4}",
        "the skew $s$ is",
        "disparity $d$",
        "$d_i = \\log y_i$",
    ],
)
def test_each_retired_form_is_caught(old: str) -> None:
    assert any(re.search(rx, old) for rx in RETIRED.values()), old
