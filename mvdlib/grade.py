"""Old path of :mod:`mvdlib.classroom.grade`: ``python -m mvdlib.grade ...`` runs the grader unchanged."""

from __future__ import annotations

import sys

from mvdlib.classroom.grade import (  # noqa: F401  (moved; old path kept for instructors' scripts)
    DEFAULT_TIMEOUT_S,
    Report,
    columns,
    exercise_sort_key,
    exercises_in,
    find_students,
    grade,
    grade_student,
    main,
    run_notebook,
    summary,
    write_csv,
)

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
