"""Notebooks are stored clean and every chapter ends with exercises that have solutions.

The book build executes the notebooks, so a stored output could only be stale; and an
instructor hands out a chapter's exercises relying on each one having a (hidden) solution.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
BOOK_NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
# COMMON brief for chapter authors: "3-5 exercises of mixed difficulty".
MIN_EXERCISES = 3

EXERCISES_HEADING = re.compile(r"^## Exercises\s*$", re.M)
# A sphinx-exercise directive opened by a backtick or colon fence, e.g. ````{exercise} Title
DIRECTIVE = re.compile(r"^[ \t]*(?:`{3,}|:{3,})\{(exercise|solution)(-start)?\}[ \t]*(\S*)", re.M)
LABEL_OPTION = re.compile(r"^\s*:label:\s*(\S+)\s*$")


def markdown_text(nb: nbformat.NotebookNode) -> str:
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def directives(text: str) -> list[tuple[str, str, int]]:
    """``(kind, label, offset)`` of each exercise and solution directive in ``text``.

    An exercise's label is its ``:label:`` option; a solution's is the exercise it names.
    """
    found = []
    for m in DIRECTIVE.finditer(text):
        kind, argument = m.group(1), m.group(3)
        if kind == "solution":
            found.append((kind, argument, m.start()))
            continue
        label = ""
        for line in text[m.end() :].splitlines()[1:]:
            option = LABEL_OPTION.match(line)
            if option:
                label = option.group(1)
                break
            if not line.strip().startswith(":"):  # options end at the first non-option line
                break
        found.append((kind, label, m.start()))
    return found


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", CHAPTERS + BOOK_NOTEBOOKS, ids=rel)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    dirty = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)
    ]
    assert not dirty, f"{rel(path)}: code cells {dirty} carry outputs or execution counts; clear them"
    assert "widgets" not in nb.metadata, f"{rel(path)}: saved widget state in the notebook metadata"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{rel(path)}: kernelspec must be python3"


@pytest.mark.parametrize("path", CHAPTERS, ids=rel)
def test_chapter_ends_with_exercises_that_have_solutions(path: Path) -> None:
    text = markdown_text(nbformat.read(path, as_version=4))
    headings = list(EXERCISES_HEADING.finditer(text))
    assert len(headings) == 1, f"{rel(path)}: needs exactly one '## Exercises' section, found {len(headings)}"
    found = directives(text)
    exercises = [label for kind, label, _ in found if kind == "exercise"]
    solutions = [label for kind, label, _ in found if kind == "solution"]
    assert len(exercises) >= MIN_EXERCISES, f"{rel(path)}: {len(exercises)} exercises, want at least {MIN_EXERCISES}"
    assert all(exercises), f"{rel(path)}: every {{exercise}} needs a :label:"
    assert all(start > headings[0].start() for _, _, start in found), (
        f"{rel(path)}: exercises and solutions belong in the '## Exercises' section"
    )
    duplicated = [label for label, n in Counter(exercises).items() if n > 1]
    assert not duplicated, f"{rel(path)}: exercise labels used twice: {duplicated}"
    assert sorted(solutions) == sorted(exercises), (
        f"{rel(path)}: exercises without a solution {sorted(set(exercises) - set(solutions))}, "
        f"solutions naming no exercise {sorted(set(solutions) - set(exercises))}"
    )


def test_exercise_labels_are_unique_across_the_book() -> None:
    labels = Counter(
        label
        for path in CHAPTERS + BOOK_NOTEBOOKS
        for kind, label, _ in directives(markdown_text(nbformat.read(path, as_version=4)))
        if kind == "exercise"
    )
    assert not [label for label, n in labels.items() if n > 1], f"exercise labels used in two places: {labels}"


def test_directive_parser_on_a_known_text() -> None:
    """The parser itself: a labelled exercise, a gated one, their solutions, and a lone solution."""
    text = (
        "## Exercises\n\n````{exercise} Rescale K\n:label: ex-a-1\n:class: hard\n\nText.\n````\n\n"
        "````{solution} ex-a-1\n:class: dropdown\n\nDone.\n````\n\n"
        ":::{exercise-start} Code\n:label: ex-a-2\n:::\n\n```{solution-start} ex-a-2\n```\n\n"
        "```{solution} ex-a-9\n```\n"
    )
    assert directives(text) == [
        ("exercise", "ex-a-1", text.index("````{exercise}")),
        ("solution", "ex-a-1", text.index("````{solution}")),
        ("exercise", "ex-a-2", text.index(":::{exercise-start}")),
        ("solution", "ex-a-2", text.index("```{solution-start}")),
        ("solution", "ex-a-9", text.index("```{solution} ex-a-9")),
    ]
