"""Checks of the book's sources: glossary, table of contents, bibliography, configuration."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "book" / "glossary.md"
TERM_ROLE = re.compile(r"\{term\}`([^`]+)`")
CITE_ROLE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
CJK = re.compile(r"[\u4e00-\u9fff]")


def glossary_entries() -> dict[str, str]:
    """Glossary term -> its definition text, from the ``{glossary}`` block."""
    text = GLOSSARY.read_text(encoding="utf-8")
    block = text.split("```{glossary}", 1)[1].split("```", 1)[0]
    entries: dict[str, str] = {}
    term = None
    for line in block.splitlines():
        if line.strip() and not line.startswith(" "):
            term = line.strip()
            entries[term] = ""
        elif term is not None:
            entries[term] += line.strip() + " "
    return entries


def book_sources() -> dict[str, str]:
    """Every page's markdown text: book/*.md and the markdown cells of the notebooks."""
    sources = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in (ROOT / "book").glob("*.md")}
    for nb in sorted((ROOT / "chapters").glob("*.ipynb")) + sorted((ROOT / "book").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        sources[str(nb.relative_to(ROOT))] = "\n".join(
            "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
        )
    return sources


def term_target(role_text: str) -> str:
    """``{term}`text <target>``` links to ``target``; ``{term}`target``` to itself."""
    m = re.match(r".*<([^>]+)>\s*$", role_text, flags=re.S)
    return (m.group(1) if m else role_text).strip().lower()


def test_glossary_terms_have_chinese_and_definition() -> None:
    entries = glossary_entries()
    assert len(entries) >= 20
    for term, definition in entries.items():
        assert CJK.search(definition[:20]), f"glossary term {term!r} should start with its Chinese term"
        assert len(definition.split()) >= 8, f"glossary term {term!r} needs a definition"


def test_every_term_role_resolves() -> None:
    terms = {t.lower() for t in glossary_entries()}
    unknown = [
        (page, term_target(t))
        for page, text in book_sources().items()
        for t in TERM_ROLE.findall(text)
        if term_target(t) not in terms
    ]
    assert not unknown, f"{{term}} roles with no glossary entry: {unknown}"


def test_every_glossary_term_is_used() -> None:
    used = {term_target(t) for text in book_sources().values() for t in TERM_ROLE.findall(text)}
    unused = [t for t in glossary_entries() if t.lower() not in used]
    assert not unused, f"glossary terms no page links with {{term}}: {unused}"


def test_every_citation_is_in_the_bibliography() -> None:
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    cited = {k.strip() for text in book_sources().values() for c in CITE_ROLE.findall(text) for k in c.split(",")}
    assert cited - keys == set(), f"citations missing from references.bib: {cited - keys}"
    for key in [
        "eigen2014depth",
        "laina2016deeper",
        "wang2018mvdepthnet",
        "ummenhofer2017demon",
        "ioffe2015batch",
        "he2015delving",
        "yin2018geonet",
        "zheng2015crfasrnn",
        "zhou2017sfmlearner",
    ]:
        assert key in keys, f"the seed's paper {key} is missing from references.bib"


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [c["file"] for c in part["chapters"]]
    return files


def test_toc_lists_every_chapter_once_and_only_existing_files() -> None:
    files = toc_files()
    assert len(files) == len(set(files)), "a file is listed twice in _toc.yml"
    for f in files:
        assert any((ROOT / f"{f}{ext}").exists() for ext in (".md", ".ipynb")), f"_toc.yml lists missing {f}"
    chapters = {f"chapters/{p.stem}" for p in (ROOT / "chapters").glob("*.ipynb")}
    assert chapters <= set(files), f"chapters missing from _toc.yml: {chapters - set(files)}"


def test_toc_parts_follow_the_book_order() -> None:
    order = [
        "Getting started",
        "Foundations",
        "Single-image depth",
        "Training mechanics",
        "MVDepthNet",
        "Point clouds",
        "Back matter",
    ]
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    captions = [p["caption"] for p in toc["parts"]]
    assert [c for c in order if c in captions] == captions


def test_config_executes_with_cache_and_fails_on_errors() -> None:
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert cfg["execute"]["execute_notebooks"] == "cache"
    assert cfg["execute"]["allow_errors"] is False
    assert cfg["sphinx"]["config"]["nb_execution_raise_on_error"] is True  # without -W too
    assert cfg["execute"]["timeout"] > 0
    # Offline reading: MathJax and plotly.js come from the book's static files, not a CDN.
    assert not cfg["sphinx"]["config"]["mathjax_path"].startswith("http")
    assert "plotly.min.js" in cfg["sphinx"]["config"]["html_js_files"]


def test_execution_status_page_is_generated() -> None:
    """The status page is in the table of contents and holds the two generated tables, no hand-made one."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert "book/execution_status" in files
    text = (ROOT / "book" / "execution_status.md").read_text(encoding="utf-8")
    assert "```{nb-exec-table}" in text and "```{build-environment}" in text
    assert "|" not in text, "the status page's tables come from the build, not from a hand-written table"


def test_build_environment_names_budget_and_libraries() -> None:
    import sys

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    from print_book import LIBRARIES, build_environment

    rows = dict(build_environment())
    assert rows["budget"] in {"cpu", "gpu"}
    assert rows["torch"].split("+")[0] == __import__("torch").__version__.split("+")[0]
    assert set(LIBRARIES) <= set(rows)
