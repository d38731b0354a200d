"""Checks for the book's coding exercises: ``check.exercise_9_2(answer)`` and so on.

Each chapter's checks live in a module of their own (``mvdlib/check/chNN.py``) and are
collected here; :data:`REGISTRY` lists them all (the grader and the tests use it). See
:mod:`mvdlib.check._core` for what a check prints and the two environment variables.
"""

from __future__ import annotations

from mvdlib.check._core import REGISTRY, Hint, NotAttempted, Result, call, exercise, is_stub

__all__ = ["REGISTRY", "Hint", "NotAttempted", "Result", "call", "exercise", "is_stub"]
