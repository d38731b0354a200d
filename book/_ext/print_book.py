"""Sphinx extension for the reader's side of the book: the execution-status page and the printed edition.

* ``{build-environment}``: a table of the machine that built the book (the budget the
  chapters ran under, the device, Python and the libraries' versions), read at build time.
  The per-chapter table beside it is myst-nb's ``{nb-exec-table}``, filled from the
  execution cache's report once every notebook has run (``book/execution_status.md``).
* The ``singlehtml`` builder (the page ``scripts/print_pdf.py`` prints) writes the notebook
  nodes as the ``html`` builder does (:func:`_html_handlers_for_singlehtml`) and shows the
  explorers' static plotly twins (:func:`_static_twins_in_singlehtml`).
"""

from __future__ import annotations

import importlib.metadata
import platform
from typing import Any

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

# The libraries whose versions decide what the chapters compute and draw.
LIBRARIES = ("torch", "numpy", "open3d", "opencv-python-headless", "matplotlib", "plotly", "jupyter-book", "myst-nb")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def build_environment() -> list[tuple[str, str]]:
    """(what, value) rows describing the machine and libraries the book was executed with."""
    import mvdlib

    rows = [
        ("budget", mvdlib.budget()),
        ("device", str(mvdlib.default_device())),
        ("Python", platform.python_version()),
        ("platform", platform.platform(terse=True)),
        ("mvdlib", mvdlib.__version__),
    ]
    return rows + [(dist, _version(dist)) for dist in LIBRARIES]


def _table(header: tuple[str, str], rows: list[tuple[str, str]]) -> nodes.table:
    table = nodes.table(classes=["colwidths-auto"])
    group = nodes.tgroup(cols=2)
    table += group
    group += [nodes.colspec(colwidth=50), nodes.colspec(colwidth=50)]
    head, body = nodes.thead(), nodes.tbody()
    group += [head, body]
    for parent, cells in [(head, [header]), (body, rows)]:
        for a, b in cells:
            parent += nodes.row("", nodes.entry("", nodes.paragraph(text=a)), nodes.entry("", nodes.paragraph(text=b)))
    return table


class BuildEnvironment(SphinxDirective):
    """``{build-environment}``: the table of :func:`build_environment`."""

    def run(self) -> list[nodes.Node]:
        return [_table(("", "this build"), build_environment())]


def _html_handlers_for_singlehtml(app: Any) -> None:
    """Give the ``singlehtml`` writer the node handlers registered for ``html``.

    Sphinx looks a writer's handlers up by builder name before format, and some extension
    registers handlers under ``singlehtml``; so the notebook nodes that
    ``sphinx_jupyterbook_latex`` registers for ``html`` only (hidden cells) are unknown to
    the single-page writer that ``scripts/print_pdf.py`` prints, and its build fails.
    """
    handlers = app.registry.translation_handlers
    if app.builder.name == "singlehtml" and "singlehtml" in handlers:
        for node, visitors in handlers.get("html", {}).items():
            handlers["singlehtml"].setdefault(node, visitors)


def _static_twins_in_singlehtml(app: Any, config: Any) -> None:
    """The single page shows the explorers' plotly twins, as ``book_fixes`` makes the HTML book do."""
    from book_fixes import WIDGET_VIEW

    config.nb_mime_priority_overrides = [*config.nb_mime_priority_overrides, ("singlehtml", WIDGET_VIEW, None)]


# myst-nb's execution table marks a chapter's status with emoji, which the fonts of a bare
# Linux machine (and so the printed PDF) lack: words instead.
STATUS_WORDS = {"\u2705": "ran", "\u274c": "failed"}


def _status_in_words(app: Any, doctree: nodes.document, docname: str) -> None:
    """Replace the execution table's status emoji by words (run after myst-nb has filled it)."""
    for text in list(doctree.findall(nodes.Text)):
        word = STATUS_WORDS.get(text.astext().strip())
        if word is not None:
            text.parent.replace(text, nodes.Text(word))


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _static_twins_in_singlehtml)
    app.connect("doctree-resolved", _status_in_words)
    app.add_directive("build-environment", BuildEnvironment)
    app.connect("builder-inited", _html_handlers_for_singlehtml)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
