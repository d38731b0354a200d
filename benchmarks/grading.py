"""Time the grader on a class, serially and with ``--jobs N`` (issue 21).

The class is made from the book's own chapters for one assignment set (default: the 1-week
set, chapters 1, 2 and 9): ``--students`` students who hand in the reference solutions (the
student edition with each answer cell refilled from the full edition) and as many who hand in
the student edition untouched. Each grading command runs as a whole process, the serial one
and the parallel one alternating over ``--repeats`` rounds; the table gives each one's median
wall time, the ratio of the medians, and checks that both gave the same table.

    python benchmarks/grading.py                       # 2 + 2 students, week1, --jobs 1 against --jobs 2
    python benchmarks/grading.py --students 3 --jobs 2 --repeats 3
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from mvdlib.classroom.answers import SOLUTION_TAG
from mvdlib.classroom.assignment import load_assignment
from mvdlib.classroom.student import BEGIN, END, student_notebook

ROOT = Path(__file__).resolve().parents[1]


def chapter_files(assignment: str) -> list[Path]:
    """The chapters whose exercises the assignment grades."""
    keys = load_assignment(assignment).points
    chapters = sorted({int(k.split(".")[0]) for k in keys})
    return [next((ROOT / "chapters").glob(f"{c:02d}_*.ipynb")) for c in chapters]


def without_markers(source: str) -> str:
    """A full-edition solution cell as a student who solved it would hand it in."""
    return "\n".join(line for line in source.splitlines() if line.strip() not in (BEGIN, END))


def make_class(out: Path, chapters: list[Path], students: int) -> None:
    """``students`` reference students (``ref-i``) and as many blank ones (``blank-i``) under ``out``."""
    for path in chapters:
        full = nbformat.read(path, as_version=4)
        blank, _ = student_notebook(full, int(path.name[:2]))
        solutions = {c.id: without_markers(c.source) for c in full.cells if SOLUTION_TAG in c.metadata.get("tags", [])}
        reference = nbformat.from_dict(blank)
        for cell in reference.cells:
            if cell.get("id") in solutions:
                cell.source = solutions[cell.id]
        for i in range(students):
            for name, nb in ((f"ref-{i}", reference), (f"blank-{i}", blank)):
                (out / name).mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, out / name / path.name)


def run(class_dir: Path, assignment: str, jobs: int, table: Path) -> float:
    command = [sys.executable, "-m", "mvdlib.classroom.grade", str(class_dir), "--assignment", assignment,
               "--jobs", str(jobs), "--csv", str(table)]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="week1")
    parser.add_argument("--students", type=int, default=2, help="reference students (and as many blank ones)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        class_dir = Path(tmp) / "class"
        make_class(class_dir, chapter_files(args.assignment), args.students)
        times: dict[int, list[float]] = {1: [], args.jobs: []}
        tables = {}
        for _ in range(args.repeats):
            for jobs in times:
                tables[jobs] = Path(tmp) / f"jobs{jobs}.csv"
                times[jobs].append(run(class_dir, args.assignment, jobs, tables[jobs]))
        rows = {jobs: sorted(csv.reader(tables[jobs].open())) for jobs in times}
    serial, parallel = statistics.median(times[1]), statistics.median(times[args.jobs])
    print(f"{2 * args.students} students, {args.assignment}, {args.repeats} round(s), load average at the end "
          f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}")  # fmt: skip
    print("| grading | median wall time |\n| --- | --- |")
    print(f"| --jobs 1 | {serial:.0f} s |\n| --jobs {args.jobs} | {parallel:.0f} s |")
    print(f"ratio {serial / parallel:.2f}x; same table both ways: {rows[1] == rows[args.jobs]}")
    for row in rows[1]:
        print("  ", row)


if __name__ == "__main__":
    main()
