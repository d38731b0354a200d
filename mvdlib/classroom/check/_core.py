"""The machinery behind the book's self-checking exercises (see the instructors' guide).

A check is a function ``exercise_C_N(answer)`` for exercise N of chapter C. It never raises
at the student: it prints one line in the book's words and returns a :class:`Result`:

* ``Exercise 9.2: correct`` when the answer passes;
* ``Exercise 9.2: not yet. <hint>`` when it fails, with what is wrong and a hint;
* ``Exercise 9.2: not attempted yet`` for the stub (``...`` or ``None``, or a function
  whose body is still ``...``);
* ``Exercise 9.2: could not check your answer (<error>)`` when the answer itself raised.

Two environment variables serve instructors and CI:

* ``MVDLIB_CHECK_LOG=path``: every check appends its result as one JSON line to ``path``
  (the grader, :mod:`mvdlib.classroom.grade`, reads it back);
* ``MVDLIB_CHECK_STRICT=1``: any result other than "correct" raises ``AssertionError``, so a
  solution that stops passing its own check fails the notebook run (CI sets it).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

PASS = "pass"
FAIL = "fail"
NOT_ATTEMPTED = "not attempted"
ERROR = "error"

LOG_ENV = "MVDLIB_CHECK_LOG"
STRICT_ENV = "MVDLIB_CHECK_STRICT"

#: Every check, by exercise key ("9.2"), in registration order.
REGISTRY: dict[str, Callable[..., Result]] = {}


class Hint(Exception):
    """Raised inside a check when the answer is wrong; its message is the hint shown."""


class NotAttempted(Exception):
    """Raised inside a check when the answer is still the stub."""


@dataclass(frozen=True)
class Result:
    """What a check found: ``exercise`` key, ``status`` (pass/fail/not attempted/error), ``message``."""

    exercise: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def line(self) -> str:
        """The one line the student sees."""
        if self.status == PASS:
            return f"Exercise {self.exercise}: correct. {self.message}".rstrip()
        if self.status == FAIL:
            return f"Exercise {self.exercise}: not yet. {self.message}"
        if self.status == NOT_ATTEMPTED:
            return f"Exercise {self.exercise}: not attempted yet"
        return f"Exercise {self.exercise}: could not check your answer ({self.message})"

    def __str__(self) -> str:
        return self.line()

    def _ipython_display_(self) -> None:
        """Shown once: the check already printed its line."""


def _stub_with_docstring(*args: Any, **kwargs: Any) -> None:
    """The shape of an exercise stub: a docstring, then ``...``."""
    ...


def _stub_bare(*args: Any, **kwargs: Any) -> None: ...


# Bytecode of a body that does nothing ("return None"); a docstring changes it on some Pythons.
_STUB_CODES = {_stub_with_docstring.__code__.co_code, _stub_bare.__code__.co_code}


def is_stub(answer: Any) -> bool:
    """True for the exercise stubs: ``...``, ``None``, or a function whose body does nothing.

    A body of ``...``, ``pass`` or only a docstring compiles to the bytecode of one of the
    reference stubs above ("return None"), whatever the arguments; any real body differs.
    """
    if answer is ... or answer is None:
        return True
    code = getattr(answer, "__code__", None)
    return code is not None and code.co_code in _STUB_CODES


def call(function: Any, *args: Any, name: str = "your function", **kwargs: Any) -> Any:
    """Call the student's ``function``; a stub or a ``None``/``...`` result counts as not attempted.

    Exceptions raised by the student's code propagate and are reported as "could not check".
    """
    if is_stub(function):
        raise NotAttempted
    if not callable(function):
        raise Hint(f"{name} should be a function, got {type(function).__name__}")
    out = function(*args, **kwargs)
    if out is None or out is ...:
        raise NotAttempted
    return out


def _record(result: Result) -> None:
    path = os.environ.get(LOG_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(result)) + "\n")


def exercise(key: str, passed: str = "") -> Callable[[Callable[[Any], None]], Callable[..., Result]]:
    """Register a check for exercise ``key`` ("chapter.number").

    The decorated function receives the student's answer, returns on success and raises
    :class:`Hint` with the book's hint when the answer is wrong. ``passed`` is an optional
    sentence appended to "correct." (what the student has now shown).
    """

    def register(check: Callable[[Any], None]) -> Callable[..., Result]:
        if key in REGISTRY:
            raise ValueError(f"exercise {key} has two checks")

        @functools.wraps(check)
        def run(answer: Any = ...) -> Result:
            try:
                if is_stub(answer):
                    raise NotAttempted
                check(answer)
                result = Result(key, PASS, passed)
            except NotAttempted:
                result = Result(key, NOT_ATTEMPTED, "not attempted yet")
            except Hint as hint:
                result = Result(key, FAIL, str(hint))
            except Exception as error:  # the student's code raised: report it, never a traceback
                result = Result(key, ERROR, f"{type(error).__name__}: {error}")
            print(result.line())
            _record(result)
            if os.environ.get(STRICT_ENV) == "1" and not result.passed:
                raise AssertionError(f"{STRICT_ENV}=1: {result.line()}")
            return result

        run.exercise_key = key  # type: ignore[attr-defined]
        REGISTRY[key] = run
        return run

    return register
