"""Assignment files the grader cannot honour are refused before any grading, with one line that says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from mvdlib.classroom.assignment import load_assignment

BAD = {
    "unknown exercise": ('points:\n  "1.3": 2\n  "4.9": 1\n', "have no check"),
    "no exercise": ('title: "empty"\n', "names no exercise"),
    "empty points": ("points: {}\n", "names no exercise"),
    "a typo in a field": ('point:\n  "1.3": 2\n', "unknown fields"),
    "bad key": ('points:\n  "one": 2\n', "chapter.number"),
    "negative points": ('points:\n  "1.3": -2\n', "finite numbers >= 0"),
    "nan rubric level": ('open:\n  "1.2": [0, .nan]\n', "finite numbers >= 0"),
    "broken yaml": ('points:\n  "1.3": [2\n  "1.5": 1\n', "not a valid assignment file"),
    "not a mapping": ("- 1.3\n- 1.5\n", "expected a mapping"),
    "true as points": ('points:\n  "1.3": true\n', "must be a number"),
    "one key twice": ('points:\n  "1.3": 2\nopen:\n  "1.3": [0, 1]\n', "under both"),
    "a rubric that is a number": ('open:\n  "1.4": 3\n', "list of rubric levels"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_assignment_file_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    text, message = BAD[case]
    path = tmp_path / "set.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as error:
        load_assignment(str(path))
    assert "\n" not in str(error.value)


def test_open_questions_alone_make_an_assignment(tmp_path: Path) -> None:
    path = tmp_path / "set.yaml"
    path.write_text('open:\n  "1.2": [0, 1, 2]\n')
    assert load_assignment(str(path)).open == {"1.2": [0.0, 1.0, 2.0]}


@pytest.mark.parametrize(
    "text, key, lines",
    [
        ('points:\n  "1.3": 2\n  "1.5": 1\n  "1.3": 3\n', "1.3", (2, 4)),
        ('points:\n  "1.3": 2\ntitle: "a"\npoints:\n  "1.5": 1\n', "points", (1, 4)),
        ('points:\n  "1.3": 2\n  1.3: 3\n', "1.3", (2, 3)),  # quoted or not, the same exercise
    ],
)
def test_a_key_given_twice_is_refused_with_the_file_the_key_and_both_lines(
    tmp_path: Path, text: str, key: str, lines: tuple[int, int]
) -> None:
    path = tmp_path / "set.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        load_assignment(str(path))
    message = str(error.value)
    assert "\n" not in message and str(path) in message and repr(key) in message, message
    assert f"lines {lines[0]} and {lines[1]}" in message, message
