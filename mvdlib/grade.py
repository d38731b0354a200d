"""Old path of :mod:`mvdlib.classroom.grade`: ``python -m mvdlib.grade ...`` runs the grader unchanged."""

from __future__ import annotations

import sys

from mvdlib.classroom.grade import (  # noqa: F401  (moved; old path kept for instructors' scripts)
    DEFAULT_TIMEOUT_S,
    Assignment,
    Report,
    exercise_sort_key,
    find_students,
    grade,
    grade_student,
    load_assignment,
    main,
    run_notebook,
)

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
