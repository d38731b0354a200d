"""The library's docstrings and comments cite only what a reader of the repository can open.

A docstring that says "see DESIGN.md" sends the reader to a file that is not there. Every
docstring and comment of ``mvdlib/**/*.py`` is read, and these citations are checked:

* a path with a folder (``book/notation.md``, ``tests/test_geometry.py``, ``data/ten_views.npz``)
  must exist, relative to the repository root or to ``mvdlib/`` (``models/eigen.py``); ``NN``
  stands for two digits, as in ``mvdlib/classroom/check/chNN.py``; paths inside a folder that git
  ignores (``runs/``) name outputs;
* a bare document name (``README.md``, ``DESIGN.md``, ``_config.yml``) must exist at the root,
  in ``book/`` or in ``chapters/``; a bare code or data file name (``depthNet_model.py``) may
  name another project's file, and is not checked;
* documents the repository does not hold, cited by name (``the seed notes``), are refused;
* a section of the conventions page is cited as ``book/conventions.md, <Section title>``
  (for example ``book/conventions.md, Poses``), and the page must have a section of that title.

The conventions page in turn names only what exists: every ``mvdlib`` name it mentions
imports, and the numbers it quotes are those of :mod:`mvdlib.conventions`.
"""

from __future__ import annotations

import ast
import importlib
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONVENTIONS = ROOT / "book" / "conventions.md"
SOURCES = sorted((ROOT / "mvdlib").rglob("*.py"))

EXTENSIONS = "md|ipynb|py|toml|ya?ml|json|sh|bib|txt|cfg|ini|rst|pt|npz|npy|png|jpe?g|csv|html|js|css"
# A path with a folder and a file name, or a bare document name.
FILE_RE = re.compile(
    rf"(?<![\w/.-])((?:[\w.-]+/)+[\w.-]+\.(?:{EXTENSIONS})|[\w-]+\.(?:md|ipynb|toml|ya?ml|cfg|ini))(?![\w/-])"
)
# A citation of a document that is not in the repository, by name.
UNAVAILABLE = {r"\bseed\s+notes\b": "the seed notes are not in the repository: cite book/conventions.md or a chapter"}
SECTION_RE = re.compile(r"book/conventions\.md`*\s*,\s*([A-Z][\w'-]*(?:\s+[A-Za-z][\w'-]*)*)")
DOCUMENT_FOLDERS = ("", "book", "chapters")


def ignored_folders() -> tuple[str, ...]:
    """Top-level folders git ignores (``runs/``, ``_build/``): paths there are outputs, not committed files."""
    lines = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    return tuple(line.strip("/") + "/" for line in lines if re.fullmatch(r"/?[\w.-]+/", line.strip()))


def section_titles() -> set[str]:
    """The titles of the conventions page's sections (``#`` and ``##`` headings)."""
    text = CONVENTIONS.read_text(encoding="utf-8")
    return {m.group(1).strip().lower() for m in re.finditer(r"^#{1,3} (.+)$", text, flags=re.M)}


def texts(path: Path) -> list[tuple[int, str]]:
    """``(first line, text)`` of every docstring (any string statement) and comment block of a file."""
    source = path.read_text(encoding="utf-8")
    found = [
        (node.value.lineno, node.value.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    ]
    block: list[str] = []
    start = last = 0
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        line = tok.start[0]
        if block and line != last + 1:  # consecutive comment lines read as one text
            found.append((start, "\n".join(block)))
            block = []
        if not block:
            start = line
        block.append(tok.string.lstrip("#"))
        last = line
    if block:
        found.append((start, "\n".join(block)))
    return found


def bad_citations(text: str, titles: set[str]) -> list[tuple[int, str]]:
    """``(line offset in text, what is wrong)`` for each citation of something that does not exist."""
    bad = []
    outputs = ignored_folders()
    for m in FILE_RE.finditer(text):
        cited = m.group(1)
        if "/" in cited:
            if cited.startswith(outputs):
                continue
            pattern = cited.replace("NN", "[0-9][0-9]")
            ok = any(ROOT.glob(pattern)) or any((ROOT / "mvdlib").glob(pattern))
        else:
            ok = any((ROOT / folder / cited).exists() for folder in DOCUMENT_FOLDERS)
        if not ok:
            bad.append((text.count("\n", 0, m.start()), f"cites {cited}, which is not in the repository"))
    for pattern, why in UNAVAILABLE.items():
        for m in re.finditer(pattern, text, flags=re.I):
            bad.append((text.count("\n", 0, m.start()), why))
    for m in SECTION_RE.finditer(text):
        words = m.group(1).split()
        if not any(" ".join(words[:n]).lower() in titles for n in range(len(words), 0, -1)):
            bad.append(
                (
                    text.count("\n", 0, m.start()),
                    f"cites section {m.group(1)!r:.40} of book/conventions.md, which has none",
                )
            )
    return bad


def all_bad_citations() -> list[str]:
    titles = section_titles()
    found = [
        (str(path.relative_to(ROOT)), first + offset, why)
        for path in SOURCES
        for first, text in texts(path)
        for offset, why in bad_citations(text, titles)
    ]
    return [f"{path}:{line}: {why}" for path, line, why in sorted(found)]


def test_docstrings_and_comments_cite_only_what_exists() -> None:
    bad = all_bad_citations()
    assert not bad, "citations of files or sections that do not exist:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    "text",
    [
        "Conventions (DESIGN.md §3): depth is z-depth.",
        "the house style (STYLE.md)",
        "see ``book/xyz.md``",
        "tested in tests/test_no_such_module.py",
        "the sampler of data/no_such_module.py",
        'the "pyramid" bug of the seed\n    notes.',
        "poses (book/conventions.md, Posses)",
        "``book/conventions.md``, Nothing here",
    ],
)
def test_each_kind_of_bad_citation_is_caught(text: str) -> None:
    assert bad_citations(text, section_titles()), text


@pytest.mark.parametrize(
    "text",
    [
        "on the book's conventions page, ``book/conventions.md``, and in :mod:`mvdlib.conventions`",
        "camera-to-world (book/conventions.md, Poses).",
        "``book/conventions.md``, Depth planes: 64 of them",
        "see book/conventions.md,\n    Value checks",
        "``python -m mvdlib.capture --out runs/ten_views.npz``",
        "a module of their own (``mvdlib/classroom/check/chNN.py``); the network of models/eigen.py",
        "the original code (example2.py / depthNet_model.py of HKUST-Aerial-Robotics/MVDepthNet)",
        "the README.md and ``tests/test_docs.py``; DeMoN (Ummenhofer et al. 2017, §5)",
        "the MIME type application/vnd.plotly.v1+json; https://github.com/owner/repo/blob/main/missing.md",
    ],
)
def test_citations_of_what_exists_pass(text: str) -> None:
    assert not bad_citations(text, section_titles()), text


def test_comment_blocks_and_docstrings_are_read_with_their_lines(tmp_path: Path) -> None:
    source = tmp_path / "example.py"
    source.write_text('"""Module.\n\nSee DESIGN.md."""\n\nx = 1  # the seed\n# notes\n', encoding="utf-8")
    found = [(first + offset, why) for first, text in texts(source) for offset, why in bad_citations(text, set())]
    assert [line for line, _ in found] == [3, 5]


def test_every_section_of_the_conventions_page_has_a_label() -> None:
    """Each ``##`` section is labelled ``(conventions-...)=`` so that other pages can link it."""
    lines = CONVENTIONS.read_text(encoding="utf-8").splitlines()
    unlabelled = [
        line
        for i, line in enumerate(lines)
        if line.startswith("## ") and not re.fullmatch(r"\(conventions-[\w-]+\)=", lines[i - 1])
    ]
    assert not unlabelled, unlabelled


def test_the_conventions_page_names_only_what_exists() -> None:
    text = CONVENTIONS.read_text(encoding="utf-8")
    names = set(re.findall(r"`(mvdlib(?:\.\w+)+)", text))
    names |= {f"{module}.{name}" for module, name in re.findall(r"from (mvdlib[\w.]*) import (\w+)", text)}
    assert names, "the page names no mvdlib function"
    missing = []
    for dotted in sorted(names):
        parts = dotted.split(".")
        for n in range(len(parts), 0, -1):  # the longest importable module, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:n]))
            except ImportError:
                continue
            try:
                for attr in parts[n:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                missing.append(dotted)
            break
    assert not missing, f"book/conventions.md names what mvdlib does not have: {missing}"


def test_the_conventions_page_quotes_the_constants_of_mvdlib_conventions() -> None:
    from mvdlib import conventions as c

    text = " ".join(CONVENTIONS.read_text(encoding="utf-8").split())
    for constant in re.findall(r"`([A-Z][A-Z_]+)`", text):
        assert hasattr(c, constant), f"book/conventions.md names {constant}, which mvdlib.conventions lacks"
    height, width = c.PAPER_SIZE
    for quoted in [
        f"{c.NUM_DEPTHS} planes from $1/{c.MAX_DEPTH:g}$ to $1/{c.MIN_DEPTH:g}$",
        f"$(I - {c.PIXEL_MEAN:g})/{c.PIXEL_STD:g}$",
        f"RGB values in $[0, {c.PIXEL_RANGE:g}]$",
        f"{height} by {width} pixels",
        "$[0, 2^{32})$" if c.SEED_LIMIT == 2**32 else "(SEED_LIMIT changed: update the page)",
    ]:
        assert quoted in text, f"book/conventions.md should quote {quoted!r} (mvdlib.conventions)"
