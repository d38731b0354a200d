"""Grade a class's notebooks: run each in its own kernel and tabulate the exercise checks.

``python -m mvdlib.classroom.grade NOTEBOOK_OR_FOLDER [--timeout S] [--csv out.csv]``

A folder holds one notebook per student (named after the file) or one sub-folder per
student (named after the folder; all its notebooks are run). Each notebook is copied into
a fresh temporary working folder and executed there by its own process and kernel
(nbclient), with a wall-clock limit, ``MVDLIB_CHECK_LOG`` pointing at a file of that
student's check results (:mod:`mvdlib.classroom.check`) and ``MVDLIB_CHECK_STRICT`` unset. Like a
grader should, execution continues past a cell that raises, so one broken exercise does not
cost the others. Every exercise is reported per student as ``pass``, ``fail: <hint>``,
``not attempted`` or ``error: <reason>`` (the check's own "could not check", or a
notebook that raised or ran out of time before the check ran); the ``notebook`` column says
whether the notebook ran cleanly, and names files it deleted from its working folder.

This isolates students from one another and from a hung or crashing notebook. It is *not*
a sandbox: a notebook runs with the grader's permissions and can read, change or delete
anything the grader's user can. Grade untrusted code inside a container or a throwaway
account.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from mvdlib.classroom.check._core import ERROR, FAIL, LOG_ENV, NOT_ATTEMPTED, PASS, STRICT_ENV

__all__ = [
    "Report",
    "exercise_sort_key",
    "exercises_in",
    "find_students",
    "run_notebook",
    "grade_student",
    "grade",
    "columns",
    "write_csv",
    "summary",
    "main",
]

DEFAULT_TIMEOUT_S = 600.0
# A check call in a notebook: check.exercise_9_2(...)
_CHECK_CALL = re.compile(r"\bcheck\.exercise_(\d+)_(\d+)\s*\(")


@dataclass
class Report:
    """One student's results: ``exercises`` maps "9.2" to its cell of the table."""

    student: str
    exercises: dict[str, str] = field(default_factory=dict)
    notebook: list[str] = field(default_factory=list)  # problems of the run, empty when clean

    @property
    def passed(self) -> int:
        return sum(v == PASS for v in self.exercises.values())


def exercise_sort_key(key: str) -> tuple[int, int]:
    chapter, number = key.split(".")
    return int(chapter), int(number)


def exercises_in(notebook: Path) -> list[str]:
    """The exercise keys ("9.2") whose checks a notebook's code cells call (none for an unreadable file)."""
    try:
        nb = nbformat.read(notebook, as_version=4)
    except (OSError, ValueError):  # reported for that student when the run fails
        return []
    keys = {f"{m[0]}.{m[1]}" for c in nb.cells if c.cell_type == "code" for m in _CHECK_CALL.findall(c.source)}
    return sorted(keys, key=exercise_sort_key)


def find_students(path: Path) -> dict[str, list[Path]]:
    """Student name -> notebooks: one notebook, a folder of notebooks, or a folder of folders."""
    path = Path(path)
    if path.is_file():
        if path.suffix != ".ipynb":
            raise ValueError(f"NOTEBOOK_OR_FOLDER must be a .ipynb file or a folder, got {path}")
        return {path.stem: [path]}
    if not path.is_dir():
        raise ValueError(f"NOTEBOOK_OR_FOLDER does not exist: {path}")
    students = {p.stem: [p] for p in sorted(path.glob("*.ipynb"))}
    for folder in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        notebooks = sorted(folder.glob("*.ipynb"))
        if notebooks:
            students[folder.name] = notebooks
    if not students:
        raise ValueError(f"no notebooks in {path} (nor in its sub-folders)")
    return students


def _run_one(notebook: Path, workdir: Path, result: Path, pid_file: Path) -> None:
    """Execute ``notebook`` in ``workdir`` (this process is the grader's child); write what raised to ``result``."""
    from jupyter_client.provisioning import LocalProvisioner
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, timeout=None, allow_errors=True, kernel_name="python3")
    client.resources = {"metadata": {"path": str(workdir)}}

    def note_kernel(**_: object) -> None:  # the grader kills the kernel too if the time runs out
        provisioner = client.km.provisioner if client.km is not None else None
        if not isinstance(provisioner, LocalProvisioner):  # a started kernel of this process has one
            raise RuntimeError(f"the notebook's kernel has no local process to note, got {provisioner!r}")
        pid_file.write_text(str(provisioner.pid))

    client.on_notebook_start = note_kernel
    client.execute()
    errors = [
        f"cell {i} raised {out.ename}: {out.evalue}"
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.output_type == "error"
    ]
    result.write_text(json.dumps({"errors": errors}))


def _kill(process: subprocess.Popen, pid_file: Path) -> None:
    """End a runner that ran out of time, and its kernel (which runs in a session of its own)."""
    pids = [process.pid]
    if pid_file.exists() and pid_file.read_text().strip().isdigit():
        pids.append(int(pid_file.read_text()))
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    process.wait()


def run_notebook(notebook: Path, log: Path, timeout_s: float) -> list[str]:
    """Run one notebook in a fresh temporary folder with a wall-clock limit; returns its problems."""
    problems = []
    with tempfile.TemporaryDirectory(prefix="mvdlib-grade-") as tmp:
        workdir, private = Path(tmp) / "work", Path(tmp) / "grader"
        workdir.mkdir()
        private.mkdir()
        copy = workdir / notebook.name
        shutil.copy2(notebook, copy)
        before = {p.relative_to(workdir) for p in workdir.rglob("*")}
        result, pid_file = private / "result.json", private / "kernel.pid"
        env = {k: v for k, v in os.environ.items() if k != STRICT_ENV}
        env[LOG_ENV] = str(log)
        command = [
            sys.executable,
            "-m",
            "mvdlib.classroom.grade",
            "--run-one",
            str(copy),
            str(workdir),
            str(result),
            str(pid_file),
        ]
        process = subprocess.Popen(
            command, cwd=workdir, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            _, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill(process, pid_file)
            problems.append(f"{notebook.name}: timed out after {timeout_s:g} s")
        else:
            if result.exists():
                problems += [f"{notebook.name}: {e}" for e in json.loads(result.read_text())["errors"][:1]]
            else:
                last = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
                problems.append(f"{notebook.name}: could not be run ({last[0]})")
        gone = sorted(str(p) for p in before if not (workdir / p).exists())
        if gone:
            problems.append(f"{notebook.name}: deleted {', '.join(gone)} from its working folder")
    if not notebook.exists():
        problems.append(f"{notebook.name}: the submitted file itself was deleted")
    return problems


def _cell(status: str, message: str) -> str:
    if status == PASS:
        return PASS
    if status == NOT_ATTEMPTED:
        return NOT_ATTEMPTED
    if status == FAIL:
        return f"{FAIL}: {message}"
    return f"{ERROR}: {message}"


def grade_student(name: str, notebooks: list[Path], timeout_s: float, keys: list[str]) -> Report:
    """Run one student's notebooks and read back their check log."""
    report = Report(name)
    with tempfile.TemporaryDirectory(prefix="mvdlib-grade-log-") as tmp:
        log = Path(tmp) / "checks.jsonl"
        for notebook in notebooks:
            report.notebook += run_notebook(notebook, log, timeout_s)
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    for line in lines:
        try:
            entry = json.loads(line)
            report.exercises[entry["exercise"]] = _cell(entry["status"], entry["message"])  # the last run counts
        except (json.JSONDecodeError, KeyError, TypeError):
            report.notebook.append("the check log was tampered with")
    for key in keys:
        if key not in report.exercises:
            report.exercises[key] = f"{ERROR}: {report.notebook[0]}" if report.notebook else NOT_ATTEMPTED
    return report


def grade(path: Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Report]:
    """Grade every student under ``path``; each notebook gets ``timeout_s`` seconds of wall clock."""
    if not timeout_s > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout_s}")
    students = find_students(Path(path))
    keys = sorted({k for nbs in students.values() for nb in nbs for k in exercises_in(nb)}, key=exercise_sort_key)
    return [grade_student(name, notebooks, timeout_s, keys) for name, notebooks in students.items()]


def columns(reports: list[Report]) -> list[str]:
    return sorted({k for r in reports for k in r.exercises}, key=exercise_sort_key)


def write_csv(reports: list[Report], path: Path) -> None:
    """One row per student: name, exercises passed, one column per exercise, the notebook's problems."""
    keys = columns(reports)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "passed", *keys, "notebook"])
        for r in reports:
            writer.writerow([r.student, r.passed, *(r.exercises[k] for k in keys), "; ".join(r.notebook) or "ok"])


def summary(reports: list[Report]) -> str:
    """The printed summary: each student's score and problems, then each exercise's pass rate."""
    keys = columns(reports)
    lines = [f"{len(reports)} students, {len(keys)} exercises"]
    for r in reports:
        lines.append(
            f"  {r.student}: {r.passed}/{len(keys)} passed" + (f"  ({'; '.join(r.notebook)})" if r.notebook else "")
        )
    for k in keys:
        statuses = [r.exercises[k].split(":")[0] for r in reports]
        counts = ", ".join(f"{statuses.count(s)} {s}" for s in (PASS, FAIL, NOT_ATTEMPTED, ERROR) if s in statuses)
        lines.append(f"  exercise {k}: {counts}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--run-one"]:  # internal: the child process that runs one notebook
        _run_one(*(Path(a) for a in argv[1:5]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m mvdlib.classroom.grade", description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="a student notebook, or a folder of them")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="wall-clock seconds per notebook")
    parser.add_argument("--csv", type=Path, help="write the table (one row per student) to this CSV file")
    args = parser.parse_args(argv)
    reports = grade(args.path, args.timeout)
    if args.csv:
        write_csv(reports, args.csv)
    print(summary(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
