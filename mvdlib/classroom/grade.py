"""Grade a class's notebooks where the students' code cannot forge the result (issue 21).

``python -m mvdlib.classroom.grade NOTEBOOK_OR_FOLDER [--assignment week1] [--timeout S]
[--jobs N] [--csv out.csv] [--feedback DIR] [--keep-executed DIR]``

A folder holds one notebook per student (named after the file) or one sub-folder per student.
Each notebook is copied into a fresh temporary folder and executed there by its own process and
kernel (nbclient) with a limit of ``--timeout`` seconds *per cell*: a cell that runs out is
interrupted and the run goes on, as it does past a cell that raises. A cell still running ``GRACE_S``
seconds after the interrupt (it catches ``KeyboardInterrupt``), or one that ends its kernel, costs a
restart: the kernel is restarted, the cells before it are run again, and the run goes on (at most
``MAX_RESTARTS`` times); the report names the cell ("timed out; interrupt ignored", "ended its
kernel"), and a value answer in it is an error that says so. The executed kernel only
supplies *value* answers. Pass or fail is decided elsewhere (``mvdlib.classroom.isolated``):
each answer is read from its answer cell (``mvdlib.classroom.answers``) and checked in a fresh
process with a pristine ``mvdlib``, the student's function called across a process boundary;
``MVDLIB_CHECK_LOG`` is never read. An answer cell that touches the checks, runs ``exec`` or
names the library's reference function scores 0 and is flagged; so is an edited instructor cell.

Each exercise is ``pass``, ``fail: <hint>``, ``not attempted`` (blank), ``error: <reason>``
(attempted; the answer raised or timed out) or ``flagged: <reason>``. Rows are written as each
student is graded and re-sorted by score at the end; nothing a student submits stops the run.

This is *not* a sandbox: notebooks run with the grader's permissions. Each kernel runs in a session
of its own under a runner process (the grader's child, in another session), and each checker with the
student's function in a third, so ``os.killpg(0, ...)`` in a student's code ends only its own kernel or
check, and ``os.kill(os.getppid(), ...)`` only the runner (the notebook's value answers are then lost,
and the report names the cell) or the checker (that exercise is an error). Code that looks up the
grader's own process id can still kill it, and any code can read, change or delete what the grader's
user can, or reach the network. Grade untrusted code inside a container or a throwaway account.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import nbformat

from mvdlib._validation import CommandLineParser
from mvdlib.classroom.answers import DIGEST_KEY, answers_in, edited_cells, names_in_solutions, tampering
from mvdlib.classroom.assignment import Assignment, Report, exercise_sort_key, load_assignment
from mvdlib.classroom.check._core import ERROR, NOT_ATTEMPTED, PASS
from mvdlib.classroom.export import StreamingCsv, summary, write_feedback
from mvdlib.classroom.isolated import FLAGGED, reference_functions, run_check
from mvdlib.classroom.runner import NotebookRun, _run_one, run_notebook
from mvdlib.classroom.student import student_notebook

__all__ = [
    "Assignment",
    "Report",
    "load_assignment",
    "exercise_sort_key",
    "find_students",
    "run_notebook",
    "NotebookRun",
    "grade_student",
    "grade",
    "main",
]

DEFAULT_TIMEOUT_S = 120.0


def max_jobs() -> int:
    """The most students graded at a time: twice the CPUs this process may use (each runs a kernel and checkers)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 2 * (cpus or 1)


def _notebooks(folder: Path, recursive: bool) -> list[Path]:
    """The notebooks in ``folder`` (any case of ``.ipynb``), not in hidden folders such as .ipynb_checkpoints."""
    paths = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p for p in paths
        if p.is_file() and p.suffix.lower() == ".ipynb"
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )  # fmt: skip


def find_students(path: Path) -> dict[str, list[Path]]:
    """Student name -> notebooks: one notebook, a folder of notebooks (one per student), or a folder of
    folders (one per student, notebooks at any depth inside). A name given both ways keeps both."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() != ".ipynb":
            raise ValueError(f"NOTEBOOK_OR_FOLDER must be a .ipynb file or a folder, got {path}")
        return {path.stem: [path]}
    if not path.is_dir():
        raise ValueError(f"NOTEBOOK_OR_FOLDER does not exist: {path}")
    students: dict[str, list[Path]] = {}
    for notebook in _notebooks(path, recursive=False):
        students.setdefault(notebook.stem, []).append(notebook)
    for folder in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        notebooks = _notebooks(folder, recursive=True)
        if notebooks:
            students.setdefault(folder.name, []).extend(notebooks)
    if not students:
        raise ValueError(f"no notebooks in {path} (nor in its sub-folders)")
    return students


def _cell(status: str, message: str) -> str:
    return status if status in (PASS, NOT_ATTEMPTED) else f"{status}: {message}"


def _reference_names() -> dict[str, set[str]]:
    """Exercise key -> the names of the library functions its check module compares against."""
    from mvdlib.classroom.check import REGISTRY

    return {key: set(reference_functions(key)) for key in REGISTRY}


@functools.lru_cache(maxsize=4)
def _editions(source: Path) -> dict[str, dict[str, str]]:
    """Chapter file name -> the instructor-cell digests of its student edition, for every chapter in ``source``."""
    found = {}
    for path in sorted(Path(source).glob("*.ipynb")):
        chapter = int(path.name[:2]) if path.name[:2].isdigit() else None
        edition, _ = student_notebook(nbformat.read(path, as_version=4), chapter)
        found[path.name] = dict(edition.metadata[DIGEST_KEY])
    return found


@functools.lru_cache(maxsize=4)
def solution_names(source: Path) -> dict[str, set[str]]:
    """Exercise key -> the names the book's own solution cells use (an answer may use what they use)."""
    found: dict[str, set[str]] = {}
    for path in sorted(Path(source).glob("*.ipynb")):
        for key, names in names_in_solutions(nbformat.read(path, as_version=4)).items():
            found.setdefault(key, set()).update(names)
    return found


def instructor_digests(notebook: Path, nb: nbformat.NotebookNode, source: Path | None) -> dict[str, str] | None:
    """The instructor-cell digests of the instructor's chapter this submission was made from (None without
    ``source``): the chapter of the same file name, else the one whose cell ids the notebook shares most
    (students rename files; cell ids survive)."""
    if source is None:
        return None
    editions = _editions(Path(source))
    if notebook.name in editions:
        return editions[notebook.name]
    ids = {c.get("id") for c in nb.cells}
    overlap = {name: len(ids & set(digests)) for name, digests in editions.items()}
    best = max(overlap, key=lambda name: overlap[name], default=None)
    return editions[best] if best is not None and overlap[best] else None


def default_source() -> Path | None:
    """The full edition's chapters beside the installed package (a checkout), or None."""
    chapters = Path(__file__).resolve().parents[2] / "chapters"
    return chapters if chapters.is_dir() else None


def grade_student(
    name: str,
    notebooks: list[Path],
    timeout_s: float,
    keys: list[str],
    keep: Path | None = None,
    source: Path | None = None,
) -> Report:
    """Run one student's notebooks, then check each answer in a fresh process.

    ``source`` holds the instructor's chapters (full edition) under the names the students'
    notebooks have; their instructor cells are compared with the student's.
    """
    from mvdlib.classroom.check import REGISTRY

    report = Report(name)
    allowed = solution_names(Path(source)) if source is not None else {}
    references = {k: names - allowed.get(k, set()) for k, names in _reference_names().items()}
    for notebook in notebooks:
        try:
            nb = nbformat.read(notebook, as_version=4)
        except Exception as error:  # any unreadable file is that student's problem, never the run's
            report.notebook.append(f"{notebook.name}: not a readable notebook ({type(error).__name__})")
            continue
        try:  # a cell whose metadata or source has the wrong type is the student's problem, never the run's
            answers = {k: a for k, a in answers_in(nb).items() if k in REGISTRY and (not keys or k in keys)}
            expected = instructor_digests(notebook, nb, source)
            flags = tampering(nb, references, expected) + edited_cells(nb, expected)
        except (TypeError, AttributeError, ValueError) as error:
            report.notebook.append(f"{notebook.name}: its cells could not be read ({type(error).__name__}: {error})")
            continue
        report.flags += [f"{notebook.name}: {f}" for f in flags]
        with tempfile.TemporaryDirectory(prefix="mvdlib-grade-private-") as tmp:
            private = Path(tmp)
            values = {k: a.name for k, a in answers.items() if not a.is_function}
            keep_dir = keep / name if keep is not None else None
            run = run_notebook(notebook, private, timeout_s, values, keep_dir)
            report.notebook += run.problems
            for key, answer in answers.items():
                forged = [f for f in flags if f.startswith(f"cell {answer.cell} ")]
                if forged:
                    report.exercises[key] = f"{FLAGGED}: {forged[0]}"
                    continue
                if not answer.is_function and answer.cell in run.lost:  # a value from before the kernel lost it
                    report.exercises[key] = _cell(ERROR, f"cell {answer.cell} {run.lost[answer.cell]}")
                    continue
                before = [f"cell {i} {why}" for i, why in sorted(run.lost.items()) if i < answer.cell]
                status, message = run_check(
                    key, answer.name, answer.source, private / "result.json.values", private, timeout_s,
                    allowed.get(key, set()), before[-1] if before and not answer.is_function else "",
                )  # fmt: skip
                report.exercises[key] = _cell(status, message)
                if status == FLAGGED:
                    report.flags.append(f"{notebook.name}: cell {answer.cell} (exercise {key}): {message}")
    for key in keys:
        report.exercises.setdefault(key, NOT_ATTEMPTED)
    return report


def grade(
    path: Path,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    assignment: Assignment | None = None,
    jobs: int = 1,
    keep: Path | None = None,
    on_report: object = None,
    source: Path | None = None,
) -> list[Report]:
    """Grade every student under ``path`` (``timeout_s`` per cell); ``on_report(report)`` sees each as it is done."""
    if not (isinstance(timeout_s, int | float) and math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError(f"timeout must be a finite number of seconds > 0, got {timeout_s}")
    if not (isinstance(jobs, int) and 1 <= jobs <= max_jobs()):
        raise ValueError(f"jobs must be an integer from 1 to {max_jobs()} (twice the CPUs), got {jobs}")
    students = find_students(Path(path))

    keys = sorted(assignment.points, key=exercise_sort_key) if assignment else []
    reports = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(grade_student, n, nbs, timeout_s, keys, keep, source) for n, nbs in students.items()]
        for future in concurrent.futures.as_completed(futures):
            report = future.result()
            reports.append(report)
            if callable(on_report):
                on_report(report)
    every = sorted({k for r in reports for k in r.exercises}, key=exercise_sort_key)
    for report in reports:
        for key in every:
            report.exercises.setdefault(key, NOT_ATTEMPTED)
    return sorted(reports, key=lambda r: r.student)


def _check_output(path: Path | None, what: str) -> None:
    """Make sure an output can be written before any grading starts (missing folders are created)."""
    if path is None:
        return
    try:
        if what == "--csv":
            if path.is_dir():
                raise IsADirectoryError(f"{path} is a folder")
            path.parent.mkdir(parents=True, exist_ok=True)
            existed = path.exists()
            with open(path, "a", encoding="utf-8"):
                pass
            if not existed:
                path.unlink()
        else:
            path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{what} {path} cannot be written ({error.strerror or error})") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = CommandLineParser(prog="python -m mvdlib.grade", description=__doc__.splitlines()[0])
    if argv[:1] == ["--run-one"]:  # internal: the child process that runs one notebook
        usage = "--run-one is the grader's own: NOTEBOOK WORKDIR RESULT PID_FILE SECONDS_PER_CELL VALUES_JSON"
        try:
            notebook, workdir, result, pid_file, seconds, values = argv[1:]
            float(seconds), json.loads(values)
        except ValueError as error:
            parser.error(f"{usage}, got {argv[1:]} ({error})")
        _run_one(Path(notebook), Path(workdir), Path(result), Path(pid_file), seconds, values)
        return 0

    parser.add_argument("path", type=Path, help="a student notebook, or a folder of them")
    parser.add_argument("--assignment", help="a shipped set (week1, week4) or an assignment .yaml file")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per cell and per check")
    parser.add_argument("--jobs", type=int, default=1, help="students graded at a time, 1 to twice the CPUs")
    parser.add_argument("--csv", type=Path, help="the table, one row per student, best score first")
    parser.add_argument("--feedback", type=Path, help="a folder for one feedback file per student")
    parser.add_argument("--keep-executed", type=Path, help="a folder for the executed notebooks (open questions)")
    parser.add_argument(
        "--source", type=Path, default=default_source(),
        help="the instructor's chapters (full edition), to compare the instructor cells with (default: ./chapters "
        "of the checkout mvdlib runs from)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        if not (math.isfinite(args.timeout) and args.timeout > 0):
            raise ValueError(f"--timeout must be a finite number of seconds > 0, got {args.timeout}")
        if not 1 <= args.jobs <= max_jobs():
            raise ValueError(f"--jobs must be from 1 to {max_jobs()} (twice this machine's CPUs), got {args.jobs}")
        find_students(args.path)
        assignment = load_assignment(args.assignment) if args.assignment else None
        _check_output(args.csv, "--csv")
        _check_output(args.feedback, "--feedback")
        _check_output(args.keep_executed, "--keep-executed")
        if args.source is not None and not args.source.is_dir():
            raise ValueError(f"--source must be a folder of the full edition's chapters, got {args.source}")
    except (ValueError, OSError) as error:  # OSError: a path the system refuses (too long, ...)
        parser.fail(error)
    out = StreamingCsv(args.csv, assignment) if args.csv else None
    reports = grade(
        args.path, args.timeout, assignment, args.jobs, args.keep_executed, out.add if out else None, args.source
    )
    if out:
        out.finish(reports)
    if args.feedback:
        write_feedback(reports, args.feedback, assignment)
    print(summary(reports, assignment))
    return 0


if __name__ == "__main__":
    sys.exit(main())
