"""An assignment (exercises and their points) and one student's report: what the grader and its export share.

Assignment files are YAML (``points``: exercise -> points; ``open``: exercise -> rubric levels), shipped in
``mvdlib/classroom/assignments/`` or given by path; see the instructors' guide (``book/instructors.ipynb``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from mvdlib.classroom.check._core import NOT_ATTEMPTED, PASS

__all__ = ["Assignment", "Report", "load_assignment", "exercise_sort_key"]

_KEY = re.compile(r"\d+\.\d+")


class _UniqueKeyLoader(yaml.SafeLoader):
    """A ``yaml.SafeLoader`` that refuses a mapping with one key twice (PyYAML keeps the later one silently).

    Keys are compared as the grader reads them, by ``str``: ``"1.3"`` and ``1.3`` are the same exercise.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[object, object]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *defaults`` may be overridden, as YAML says
                continue
            key, line = str(self.construct_object(key_node, deep=True)), key_node.start_mark.line + 1
            if key in seen:
                raise ValueError(f"key {key!r} is given twice, on lines {seen[key]} and {line}")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True)
class Assignment:
    """Exercises and their points: ``points`` for checked ones, ``open`` (rubric levels) for hand-graded ones."""

    title: str
    points: dict[str, float]
    open: dict[str, list[float]] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.points.values())


def load_assignment(name_or_path: str) -> Assignment:
    """An assignment file: a path to a YAML file, or the name of a shipped one ("week1", "week4")."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        text, where = path.read_text(encoding="utf-8"), str(path)
    else:
        folder = resources.files("mvdlib.classroom") / "assignments"
        shipped = folder / f"{name_or_path}.yaml"
        if not shipped.is_file():
            names = sorted(p.name.removesuffix(".yaml") for p in folder.iterdir())
            raise ValueError(f"assignment must be a .yaml file or one of {names}, got {name_or_path!r}")
        text, where = shipped.read_text(encoding="utf-8"), str(shipped)
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
        if not isinstance(data, dict):
            raise TypeError(f"expected a mapping, got {type(data).__name__}")
        unknown = sorted(set(map(str, data)) - {"title", "points", "open"})
        if unknown:
            raise ValueError(f"unknown fields {unknown}; an assignment has title, points and open")
        points = {str(k): _number(v, f"points of {k}") for k, v in (data.get("points") or {}).items()}
        rubric = {str(k): _levels(v, k) for k, v in (data.get("open") or {}).items()}
    except (yaml.YAMLError, AttributeError, TypeError, ValueError) as error:
        reason = " ".join(str(error).split())  # YAML's messages span lines
        raise ValueError(f"assignment {where} is not a valid assignment file ({reason})") from None
    _validate(str(name_or_path), points, rubric)
    return Assignment(str(data.get("title", name_or_path)), points, rubric)


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number, got {value!r}")
    return float(value)


def _levels(value: object, key: object) -> list[float]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"open {key} must be a list of rubric levels like [0, 1, 2], got {value!r}")
    return [_number(x, f"a rubric level of {key}") for x in value]


def _validate(name: str, points: dict[str, float], rubric: dict[str, list[float]]) -> None:
    """Refuse an assignment the grader could not honour: no exercise, a bad key, bad points, an unchecked exercise."""
    from mvdlib.classroom.check import REGISTRY

    if not points and not rubric:
        raise ValueError(f"assignment {name!r} names no exercise (give points: and/or open:)")
    bad = [k for k in [*points, *rubric] if not _KEY.fullmatch(k)]
    if bad:
        raise ValueError(f"assignment {name!r}: exercise keys must be 'chapter.number' like '9.2', got {bad}")
    if any(not (math.isfinite(v) and v >= 0) for v in [*points.values(), *(x for v in rubric.values() for x in v)]):
        raise ValueError(f"assignment {name!r}: points and rubric levels must be finite numbers >= 0")
    both = sorted(set(points) & set(rubric))
    if both:
        raise ValueError(f"assignment {name!r}: {both} are under both points: and open:; give each once")
    unchecked = [k for k in points if k not in REGISTRY]
    if unchecked:
        raise ValueError(
            f"assignment {name!r}: {unchecked} have no check (points: is for checked exercises "
            f"{sorted(REGISTRY, key=exercise_sort_key)}; put open questions under open:)"
        )


@dataclass
class Report:
    """One student's results: ``exercises`` maps "9.2" to its cell of the table."""

    student: str
    exercises: dict[str, str] = field(default_factory=dict)
    notebook: list[str] = field(default_factory=list)  # problems of the run, empty when clean
    flags: list[str] = field(default_factory=list)  # what looks forged

    @property
    def passed(self) -> int:
        return sum(v == PASS for v in self.exercises.values())

    def score(self, points: dict[str, float]) -> float:
        return sum(points.get(k, 1.0) for k, v in self.exercises.items() if v == PASS)

    def attempted(self) -> int:
        return sum(v != NOT_ATTEMPTED for v in self.exercises.values())


def exercise_sort_key(key: str) -> tuple[int, int]:
    chapter, number = key.split(".")
    return int(chapter), int(number)
