"""The grader's outputs: the class table (CSV, rows written as graded), an LMS column, feedback files.

The CSV has one row per student, best total first: ``student`` and ``id`` (the submission's
name), ``total`` and ``max`` (points of the assignment file, 1 per exercise without one),
``attempted`` (exercises not left blank), one numeric column of points per exercise, a
``flagged`` column (what looked forged), one ``<key> status`` column per exercise (``pass``,
``fail: <hint>``, ``not attempted``, ``error: ...``, ``flagged: ...``) and the ``notebook``'s
problems. ``student,id,total`` are the columns Canvas and Moodle imports map to a grade.
"""

from __future__ import annotations

import csv
from pathlib import Path
from threading import Lock
from typing import Any

from mvdlib.classroom.assignment import Assignment, Report, exercise_sort_key
from mvdlib.classroom.check import REGISTRY
from mvdlib.classroom.check._core import ERROR, FAIL, NOT_ATTEMPTED, PASS

__all__ = ["StreamingCsv", "columns", "rows", "write_feedback", "summary"]


def columns(reports: list[Report], assignment: Assignment | None = None) -> list[str]:
    keys = set(assignment.points) if assignment else {k for r in reports for k in r.exercises}
    return sorted(keys, key=exercise_sort_key)


def _points(assignment: Assignment | None) -> dict[str, float]:
    return dict(assignment.points) if assignment else {}


def rows(reports: list[Report], keys: list[str], assignment: Assignment | None = None) -> list[list[Any]]:
    """The header and one row per student in the given order."""
    points = _points(assignment)
    header: list[Any] = ["student", "id", "total", "max", "attempted", *keys, "flagged"]
    header += [f"{k} status" for k in keys] + ["notebook"]
    out = [header]
    for r in reports:
        statuses = [r.exercises.get(k, NOT_ATTEMPTED) for k in keys]
        earned = [points.get(k, 1.0) if s == PASS else 0.0 for k, s in zip(keys, statuses, strict=True)]
        out.append(
            [r.student, r.student, sum(earned), sum(points.get(k, 1.0) for k in keys)]
            + [sum(s != NOT_ATTEMPTED for s in statuses), *earned, "; ".join(r.flags)]
            + [*statuses, "; ".join(r.notebook) or "ok"]
        )
    return out


class StreamingCsv:
    """Appends each student's row as it is graded; :meth:`finish` rewrites the file sorted by total."""

    def __init__(self, path: Path, assignment: Assignment | None = None) -> None:
        self.path, self.assignment, self.lock = Path(path), assignment, Lock()
        self.keys = sorted(assignment.points if assignment else REGISTRY, key=exercise_sort_key)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(rows([], self.keys, assignment)[0])

    def add(self, report: Report) -> None:
        with self.lock, open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(rows([report], self.keys, self.assignment)[1])

    def finish(self, reports: list[Report]) -> None:
        keys = columns(reports, self.assignment)
        table = rows(reports, keys, self.assignment)
        body = sorted(table[1:], key=lambda row: (-float(row[2]), -int(row[4]), str(row[0])))
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([table[0], *body])
        tmp.replace(self.path)


def write_feedback(reports: list[Report], folder: Path, assignment: Assignment | None = None) -> None:
    """One Markdown file per student: each exercise's result and hint, the points, the notebook's problems."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    points = _points(assignment)
    for r in reports:
        keys = columns([r], assignment)
        earned = sum(points.get(k, 1.0) for k in keys if r.exercises.get(k) == PASS)
        lines = [f"# Feedback for {r.student}", "", f"Points: {earned:g} of {sum(points.get(k, 1.0) for k in keys):g}"]
        lines.append("")
        for key in keys:
            status = r.exercises.get(key, NOT_ATTEMPTED)
            lines.append(f"* Exercise {key}: {'correct' if status == PASS else status}")
        if assignment and assignment.open:
            lines += ["", "Open questions, graded by hand: " + ", ".join(sorted(assignment.open))]
        if r.notebook:
            lines += ["", "When your notebook ran:", *(f"* {p}" for p in r.notebook)]
        (folder / f"{r.student}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def summary(reports: list[Report], assignment: Assignment | None = None) -> str:
    """The printed summary: each student's points and problems, then each exercise's counts."""
    keys = columns(reports, assignment)
    table = rows(reports, keys, assignment)
    lines = [f"{len(reports)} students, {len(keys)} exercises"]
    for row, r in zip(table[1:], reports, strict=True):
        extra = "; ".join(r.flags + r.notebook)
        lines.append(f"  {r.student}: {row[2]:g}/{row[3]:g} points" + (f"  ({extra})" if extra else ""))
    for k in keys:
        statuses = [r.exercises.get(k, NOT_ATTEMPTED).split(":")[0] for r in reports]
        kinds = (PASS, FAIL, NOT_ATTEMPTED, ERROR, "flagged")
        lines.append(f"  exercise {k}: " + ", ".join(f"{statuses.count(s)} {s}" for s in kinds if s in statuses))
    return "\n".join(lines)
