"""Checks for the book's coding exercises: ``check.exercise_9_2(answer)`` and so on.

Each chapter's checks live in a module of their own (``mvdlib/classroom/check/chNN.py``) and are
collected here; ``REGISTRY`` lists them all (the grader and the tests use it). See
``mvdlib.classroom.check._core`` for what a check prints and the two environment variables.
"""

from __future__ import annotations

from mvdlib.classroom.check._core import REGISTRY, Hint, NotAttempted, Result, call, exercise, is_stub
from mvdlib.classroom.check.ch01 import exercise_1_3 as exercise_1_3
from mvdlib.classroom.check.ch01 import exercise_1_5 as exercise_1_5
from mvdlib.classroom.check.ch02 import exercise_2_1 as exercise_2_1
from mvdlib.classroom.check.ch02 import exercise_2_3 as exercise_2_3
from mvdlib.classroom.check.ch03 import exercise_3_2 as exercise_3_2
from mvdlib.classroom.check.ch03 import exercise_3_3 as exercise_3_3
from mvdlib.classroom.check.ch04 import exercise_4_1 as exercise_4_1
from mvdlib.classroom.check.ch04 import exercise_4_2 as exercise_4_2
from mvdlib.classroom.check.ch04 import exercise_4_5 as exercise_4_5
from mvdlib.classroom.check.ch05 import exercise_5_1 as exercise_5_1
from mvdlib.classroom.check.ch05 import exercise_5_3 as exercise_5_3
from mvdlib.classroom.check.ch05 import exercise_5_5 as exercise_5_5
from mvdlib.classroom.check.ch05 import exercise_5_6 as exercise_5_6
from mvdlib.classroom.check.ch06 import exercise_6_2 as exercise_6_2
from mvdlib.classroom.check.ch06 import exercise_6_3 as exercise_6_3
from mvdlib.classroom.check.ch07 import exercise_7_4, exercise_7_5, exercise_7_6  # noqa: F401
from mvdlib.classroom.check.ch08 import exercise_8_1, exercise_8_3  # noqa: F401
from mvdlib.classroom.check.ch09 import exercise_9_1, exercise_9_2  # noqa: F401
from mvdlib.classroom.check.ch10 import exercise_10_3, exercise_10_5  # noqa: F401
from mvdlib.classroom.check.ch11 import exercise_11_3, exercise_11_5, exercise_11_6  # noqa: F401
from mvdlib.classroom.check.ch12 import exercise_12_3, exercise_12_6, exercise_12_7, exercise_12_8  # noqa: F401
from mvdlib.classroom.check.ch13 import exercise_13_2, exercise_13_5  # noqa: F401

__all__ = ["REGISTRY", "Hint", "NotAttempted", "Result", "call", "exercise", "is_stub"]
