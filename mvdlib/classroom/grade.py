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
import copy
import dataclasses
import functools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat

from mvdlib._validation import CommandLineParser
from mvdlib.classroom.answers import DIGEST_KEY, answers_in, edited_cells, names_in_solutions, tampering
from mvdlib.classroom.assignment import Assignment, Report, exercise_sort_key, load_assignment
from mvdlib.classroom.check._core import ERROR, NOT_ATTEMPTED, PASS
from mvdlib.classroom.export import StreamingCsv, summary, write_feedback
from mvdlib.classroom.isolated import FLAGGED, STARTUP_S, reference_functions, run_check
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


# Run before the student's cells with a limit of its own.
_WARM_UP = "import numpy, torch, mvdlib.classroom.check, mvdlib.classroom.isolated"

# Appended to the executed notebook: writes the value answers (tensors, numbers, containers only).
_FETCH = "import mvdlib.classroom.isolated as _i\n_i.fetch(globals(), {names!r}, {path!r})"


# Seconds a timed-out cell has, after the interrupt, to stop; then its kernel is restarted.
GRACE_S = 3
# Kernel restarts in one notebook after which its remaining cells are not run.
MAX_RESTARTS = 3
_TIMEOUT_NAME = "GraderCellTimeout"  # the error the runner records for a cell that ran out of time


class _Progress:
    """Where the runner is: the cell it runs, written to a file before each cell, so that the grader can name
    the cell during which the runner itself was killed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, index: int) -> None:
        self.path.write_text(str(index))

    def read(self) -> int | None:
        text = self.path.read_text() if self.path.exists() else ""
        return int(text) if text.isdigit() else None


def _run_one(notebook: Path, workdir: Path, result: Path, pid_file: Path, cell_timeout: str, values: str) -> None:
    """Execute ``notebook`` in ``workdir`` (this process is the grader's child); write what raised to ``result``.

    A cell that runs out of time is interrupted; one that is still running ``GRACE_S`` later (it catches
    ``KeyboardInterrupt``), or that ends its kernel, costs a restart of the kernel, and the cells before it are
    run again (their outputs kept from the first run) before the next. ``result`` gets ``errors`` (the run's
    problems) and ``lost`` (student cell index -> why the kernel lost it).
    """
    from jupyter_client.provisioning import LocalProvisioner
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError
    from nbclient.util import ensure_async, run_sync

    nb = nbformat.read(notebook, as_version=4)
    names = json.loads(values)
    if names:
        nb.cells.append(nbformat.v4.new_code_cell(_FETCH.format(names=names, path=str(result) + ".values")))
    timeout = float(cell_timeout)
    warm_up = nbformat.v4.new_code_cell(_WARM_UP)  # importing torch is no part of any cell's time limit
    nb.cells.insert(0, warm_up)
    idle: set[int] = set()  # cells whose kernel said it was done with them

    class Client(NotebookClient):
        def process_message(
            self, msg: dict[str, Any], cell: nbformat.NotebookNode, cell_index: int
        ) -> nbformat.NotebookNode | None:
            if msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                idle.add(cell_index)
            return super().process_message(msg, cell, cell_index)

    client = Client(
        nb,
        timeout_func=lambda cell: STARTUP_S if cell.source == _WARM_UP else timeout,
        interrupt_on_timeout=True,
        iopub_timeout=GRACE_S,  # after the interrupt, how long the kernel has to say the cell is done
        error_on_timeout={"ename": _TIMEOUT_NAME, "evalue": f"after {timeout:g} s", "traceback": []},
        allow_errors=True,
        kernel_name="python3",
    )
    client.resources = {"metadata": {"path": str(workdir)}}
    progress = _Progress(Path(str(result) + ".progress"))

    def note_kernel(**_: object) -> None:  # the grader kills the kernel too if the time runs out
        provisioner = client.km.provisioner if client.km is not None else None
        if not isinstance(provisioner, LocalProvisioner):
            raise RuntimeError(f"the notebook's kernel has no local process to note, got {provisioner!r}")
        pid_file.write_text(str(provisioner.pid))

    def execute(cell: nbformat.NotebookNode, index: int) -> str | None:
        """Run one cell; None when its kernel is still usable, else why it was restarted."""
        progress(index)
        idle.discard(index)
        reply: dict = {}
        client.on_cell_executed = lambda execute_reply, **_: reply.update(execute_reply)
        try:
            client.execute_cell(cell, index)
        except DeadKernelError:
            reason = "ended its kernel (it killed or crashed the process)"
        else:
            timed_out = reply.get("content", {}).get("ename") == _TIMEOUT_NAME
            if not timed_out or index in idle:
                return None
            reason = f"timed out; interrupt ignored ({timeout:g} s, then {GRACE_S} s after the interrupt)"
        run_sync(restart)()
        note_kernel()
        return reason

    async def restart() -> None:
        assert client.km is not None and client.kc is not None
        await ensure_async(client.km.restart_kernel(now=True))
        await ensure_async(client.kc.wait_for_ready(timeout=STARTUP_S))  # type: ignore[attr-defined]

    lost: dict[int, str] = {}
    with client.setup_kernel():
        note_kernel()
        ran: list[int] = []  # the cells whose state the kernel holds
        for index, cell in enumerate(nb.cells):
            if len(lost) == MAX_RESTARTS:
                lost[index - 1] = f"and the cells after it were not run (the kernel was restarted {MAX_RESTARTS} times)"
                break
            reason = execute(cell, index)
            if reason is None:
                ran.append(index)
                continue
            lost[index - 1] = f"{reason}: the kernel was restarted and the cells before it run again"
            for earlier in ran:  # copies: the executed notebook keeps the first run's outputs
                if execute(copy.deepcopy(nb.cells[earlier]), earlier) is not None:
                    lost[index - 1] += f" up to cell {earlier - 1}, which failed this time"
                    ran = ran[: ran.index(earlier)]
                    break
    nb.cells.pop(0)
    errors = [
        f"cell {i} was interrupted after {timeout:g} s (the limit per cell)"
        if out.ename == "KeyboardInterrupt"
        else f"cell {i} raised {out.ename}: {out.evalue}"
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.output_type == "error"
    ]
    errors += [f"cell {i} {why}" for i, why in lost.items() if i < len(nb.cells) - bool(names)]
    if names:
        nb.cells.pop()
    nbformat.write(nb, str(result) + ".ipynb")
    result.write_text(json.dumps({"errors": errors, "lost": lost}))


def _kill(process: subprocess.Popen, pid_file: Path) -> None:
    """End a runner and its kernel (which runs in a session of its own), if they are still there."""
    pids = [process.pid]
    if pid_file.exists() and pid_file.read_text().strip().isdigit():
        pids.append(int(pid_file.read_text()))
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    process.wait()


@dataclasses.dataclass
class NotebookRun:
    """What running a notebook gave: its ``problems`` (one line each) and the cells whose state its kernel
    ``lost`` (student cell index -> why: a cell that ignored the interrupt or ended its kernel)."""

    problems: list[str] = dataclasses.field(default_factory=list)
    lost: dict[int, str] = dataclasses.field(default_factory=dict)


def run_notebook(
    notebook: Path, private: Path, timeout_s: float, values: dict[str, str], keep: Path | None = None
) -> NotebookRun:
    """Run one notebook in a fresh folder, ``timeout_s`` per cell; value answers go to a file in ``private``.

    Returns the run's problems (cells that raised, were interrupted or lost, files it deleted) and lost cells.
    """
    run = NotebookRun()
    nb = nbformat.read(notebook, as_version=4)
    # A last resort (each cell has its own limit): every cell at its limit and grace, once and after each restart.
    wall_s = (timeout_s + GRACE_S) * (len(nb.cells) + 2) * (MAX_RESTARTS + 1) + STARTUP_S * (MAX_RESTARTS + 1)
    with tempfile.TemporaryDirectory(prefix="mvdlib-grade-") as tmp:
        workdir = Path(tmp)
        copied = workdir / notebook.name
        shutil.copy2(notebook, copied)
        before = {p.relative_to(workdir) for p in workdir.rglob("*")}
        result, pid_file = private / "result.json", private / "kernel.pid"
        env = {k: v for k, v in os.environ.items() if k not in ("MVDLIB_CHECK_STRICT", "MVDLIB_CHECK_LOG")}
        command = [sys.executable, "-m", "mvdlib.classroom.grade", "--run-one", str(copied), str(workdir)]
        command += [str(result), str(pid_file), str(timeout_s), json.dumps(values)]
        process = subprocess.Popen(
            command, cwd=workdir, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            _, stderr = process.communicate(timeout=wall_s)
        except subprocess.TimeoutExpired:
            run.problems.append(f"{notebook.name}: timed out after {wall_s:g} s")
        else:
            if result.exists():
                outcome = json.loads(result.read_text())
                run.problems += [f"{notebook.name}: {e}" for e in outcome["errors"]]
                run.lost = {int(i): why for i, why in outcome["lost"].items()}
            elif process.returncode < 0:  # e.g. a cell's os.kill(os.getppid(), 9): the runner is the kernel's parent
                cell = _Progress(Path(str(result) + ".progress")).read()
                why = f"ended the grader's process that ran the notebook (signal {-process.returncode})"
                where = f"cell {cell - 1}" if cell else "a cell"
                run.problems.append(f"{notebook.name}: {where} {why}; the cells after it did not run")
                run.lost = {cell - 1: why} if cell else {}
            else:
                last = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
                run.problems.append(f"{notebook.name}: could not be run ({last[0]})")
        finally:
            if process.returncode is None or not result.exists():  # the runner, and its kernel if it is left
                _kill(process, pid_file)
        if keep is not None and Path(str(result) + ".ipynb").exists():
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy2(str(result) + ".ipynb", keep / notebook.name)
        gone = sorted(str(p) for p in before if not (workdir / p).exists())
        if gone:
            run.problems.append(f"{notebook.name}: deleted {', '.join(gone)} from its working folder")
    return run


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
