"""Old path of :mod:`mvdlib.classroom.student`: ``python -m mvdlib.student ...`` writes the student edition."""

from __future__ import annotations

import sys

from mvdlib.classroom.student import (  # noqa: F401  (moved; old path kept for instructors' scripts)
    BEGIN,
    END,
    FOLD_TAG,
    INSTRUCTORS_PAGE,
    INSTRUCTORS_STUB,
    SOLUTION_TAG,
    STUB,
    Stripped,
    main,
    strip_code,
    strip_markdown,
    student_notebook,
    write_student_book,
    write_student_edition,
)

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
