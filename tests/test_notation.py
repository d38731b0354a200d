"""One symbol per quantity: the retired notations of the review (issues 14 and 24) stay retired.

``book/notation.md`` fixes one symbol for each quantity. Earlier drafts wrote inverse depth
as rho, q and s, indexed the multi-scale loss from 1 in one chapter and from 0 in another,
called both the skew and the scale index s, used d for a disparity and for a log-depth
difference, wrote poses with a comma and indexed the cost volume C(u, v, d). Each pattern
below is one of those forms; none may come back anywhere a reader sees it: the prose of the
chapters and of ``book/``, the instructors' notebook, the comments and strings of the
chapters' code (axis labels, titles, printed lines), and the hints of ``mvdlib.classroom.check``.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = (
    sorted((ROOT / "chapters").glob("*.ipynb"))
    + sorted((ROOT / "book").glob("*.md"))
    + sorted((ROOT / "book").glob("*.ipynb"))
    + sorted((ROOT / "mvdlib" / "classroom" / "check").glob("*.py"))
)

RETIRED = {
    "pose with a comma (write T_{b<-a})": r"T_\{?\\text\{\w+\s*,\s*\w+\}",
    "inverse depth not written xi": r"(?<![\\\w])(?:q|s|\\rho)\s*=\s*1\s*/\s*d\b",
    "scale index counted from 1 (s = 0..3)": r"\\sum_\{s\s*=\s*1\}",
    "skew not written gamma": r"skew \$(?!\\gamma)|\bs'\s*=\s*-s\b|s\u2032",
    "disparity written d (write Delta u)": r"disparity (?:of )?\$d\b",
    "log-depth error written d_i (write e_i)": r"\bd_i\s*(?:=|equal)\s*\\?log",
    "inverse depth written q or s in a label (write xi)": r"inverse depth q\b|\bdepth \$?1\s*/\s*s\b",
    "inverse-depth step written with rho or q (write Delta xi)": r"\\Delta\s*\\rho|\\Delta\s*q\b|\u0394[\u03c1q]",
    "derivative of inverse depth written dq/dz (write dxi/dz)": r"\bdq\s*/\s*dz\b",
    "disparity shift written f b s (write f b xi)": r"\bf\s*b\s*s\b|\$fbs\$|multiplying by \$s\$",
    "cost volume indexed C(u, v, d) (write C(i, v, u))": r"C\(u,\s*v,\s*d\)",
}


def _code_text(source: str) -> str:
    """The comments and string literals of Python source: what a reader sees of code (labels, titles, hints)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return source  # not plain Python (a magic, a fragment): scan all of it
    # Python 3.12 splits f-strings into parts; their text is FSTRING_MIDDLE
    kinds = {tokenize.COMMENT, tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    return "\n".join(t.string for t in tokens if t.type in kinds)


def prose(path: Path) -> str:
    if path.suffix == ".md":
        return path.read_text()
    if path.suffix == ".py":
        return _code_text(path.read_text())
    nb = nbformat.read(path, as_version=4)
    return "\n".join(c.source if c.cell_type == "markdown" else _code_text(c.source) for c in nb.cells)


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
        "$s' = -s$",
        "disparity $d$",
        "$d_i = \\log y_i$",
        "every d_i = log s",
        "all d_i equal log s",
        "inverse depth q (1/m)",
        "depth 1/s (m)",
        "$\\Delta\\rho = 1/(fb)$",
        "$\\Delta d \\approx -d^2\\,\\Delta q$",
        "dq/dz = 2 sigma(z)",
        "the shift is f b s",
        "the shift $fbs$",
        "multiplying by $s$ instead",
        "the cost volume $C(u, v, d)$",
    ],
)
def test_each_retired_form_is_caught(old: str) -> None:
    assert any(re.search(rx, old) for rx in RETIRED.values()), old


def test_code_text_keeps_comments_and_strings_only() -> None:
    text = _code_text('q = 1 / d  # inverse depth q\nax.set_ylabel("depth 1/s (m)")\n')
    assert "inverse depth q" in text and "depth 1/s (m)" in text and "q = 1 / d" not in text
