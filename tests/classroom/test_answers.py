"""The book's own solutions, handed in as a student would, are never taken for forgeries (issue 21)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from mvdlib.classroom.answers import answers_in, tampering
from mvdlib.classroom.grade import _reference_names, solution_names

CHAPTERS = Path(__file__).resolve().parents[2] / "chapters"


@pytest.mark.parametrize("path", sorted(CHAPTERS.glob("*.ipynb")), ids=lambda p: p.name[:2])
def test_the_books_solutions_are_not_flagged(path: Path) -> None:
    allowed = solution_names(CHAPTERS)
    references = {k: names - allowed.get(k, set()) for k, names in _reference_names().items()}
    nb = nbformat.read(path, as_version=4)
    assert answers_in(nb)  # every chapter has checked exercises
    assert [f for f in tampering(nb, references) if "reference" in f] == []


def test_without_the_books_answers_the_reference_of_a_solution_is_flagged() -> None:
    """Chapter 7's 7.4 answer builds on plain_stack: allowed by the book's answer, flagged without it."""
    nb = nbformat.read(CHAPTERS / "07_activations.ipynb", as_version=4)
    assert any("7.4" in f and "reference" in f for f in tampering(nb, _reference_names()))
