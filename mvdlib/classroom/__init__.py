"""The book's classroom: exercise checks, the student edition and the grader.

=====================  ===============================================================
module                 what it is for
=====================  ===============================================================
``check``              ``check.exercise_C_N(answer)``: the self-checking exercises (readers)
``student``            ``python -m mvdlib.classroom.student``: the edition without solutions
``grade``              ``python -m mvdlib.classroom.grade``: run and tabulate a class's notebooks
=====================  ===============================================================

It sits on top of the library (it imports the functions the exercises are checked against)
and nothing in the library imports it. The old paths ``mvdlib.check``, ``mvdlib.student``
and ``mvdlib.grade`` still work, for chapters and student notebooks already handed out.
The submodules are not imported here: ``student`` and ``grade`` need only ``nbformat``.
"""

__all__: list[str] = []
