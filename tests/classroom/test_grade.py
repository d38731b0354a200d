"""The grader on a made-up class: each student gets the row the instructors' guide promises.

alice answers both exercises correctly; bob makes the typical mistakes and deletes his
notebook from the working folder; carol's notebook raises on its first cell; dave's sleeps
forever after his first exercise; erin hands in a file that is not a notebook. Each runs in
its own kernel with a time limit.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from mvdlib import grade as old_grade  # the old path, kept for instructors' scripts
from mvdlib.classroom import grade

TIMEOUT_S = 90.0  # generous: a kernel that imports torch takes seconds, more on a busy 2-core machine

IMPORTS = "import math\n\nimport numpy as np\n\nfrom mvdlib import check"
RIGHT_1_3 = (
    "def my_scale_intrinsics(K, sx, sy):\n"
    "    S = np.array([[sx, 0, sx / 2 - 0.5], [0, sy, sy / 2 - 0.5], [0, 0, 1]])\n"
    "    return S @ K\n\n\n"
    "check.exercise_1_3(my_scale_intrinsics)"
)
RIGHT_3_2 = "def loss_of_scale(s, lam):\n    return (1 - lam) * math.log(s) ** 2\n\n\ncheck.exercise_3_2(loss_of_scale)"
NAIVE_1_3 = (
    "def my_scale_intrinsics(K, sx, sy):\n    return np.diag([sx, sy, 1.0]) @ K\n\n\n"
    "check.exercise_1_3(my_scale_intrinsics)"
)
NO_LAMBDA_3_2 = "def loss_of_scale(s, lam):\n    return math.log(s) ** 2\n\n\ncheck.exercise_3_2(loss_of_scale)"

CLASS = {
    "alice": [IMPORTS, RIGHT_1_3, RIGHT_3_2],
    "bob": [IMPORTS, NAIVE_1_3, NO_LAMBDA_3_2, "import os\n\nos.remove('bob.ipynb')"],
    "carol": ["from mvdlib import chek", RIGHT_1_3, RIGHT_3_2],
    "dave": [IMPORTS, RIGHT_1_3, "import time\n\nwhile True:\n    time.sleep(1)", RIGHT_3_2],
}


@dataclass
class Graded:
    folder: Path  # the submitted notebooks
    table: dict[str, dict[str, str]]  # the CSV, by student


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    folder = tmp_path_factory.mktemp("class")
    for name, cells in CLASS.items():
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, folder / f"{name}.ipynb")
    (folder / "erin.ipynb").write_text("not a notebook")  # a broken file is reported too
    out = folder / "grades.csv"
    grade.main([str(folder), "--timeout", str(TIMEOUT_S), "--csv", str(out)])
    with open(out, newline="", encoding="utf-8") as f:
        table = {row["student"]: row for row in csv.DictReader(f)}
    return Graded(folder, table)


def test_the_table_has_a_row_per_student_and_a_column_per_exercise(graded: Graded) -> None:
    assert sorted(graded.table) == ["alice", "bob", "carol", "dave", "erin"]
    assert list(graded.table["alice"]) == ["student", "passed", "1.3", "3.2", "notebook"]


def test_the_correct_student_passes_everything(graded: Graded) -> None:
    alice = graded.table["alice"]
    assert (alice["1.3"], alice["3.2"], alice["passed"], alice["notebook"]) == ("pass", "pass", "2", "ok")


def test_typical_mistakes_get_their_hints_and_a_deletion_is_reported(graded: Graded) -> None:
    bob = graded.table["bob"]
    assert bob["1.3"].startswith("fail: you scaled c_x and c_y like the focal lengths")
    assert bob["3.2"].startswith("fail: the scale term")
    assert bob["passed"] == "0"
    assert "deleted bob.ipynb from its working folder" in bob["notebook"]
    assert (graded.folder / "bob.ipynb").exists(), "the submitted notebook is a copy: the original stays"


def test_a_notebook_that_raises_on_its_first_cell_is_an_error_for_each_exercise(graded: Graded) -> None:
    carol = graded.table["carol"]
    assert carol["notebook"].startswith("carol.ipynb: cell 0 raised ImportError")
    for key in ("1.3", "3.2"):
        assert carol[key].startswith("error: carol.ipynb: cell 0 raised ImportError")


def test_a_notebook_that_never_ends_is_stopped_and_keeps_what_it_passed(graded: Graded) -> None:
    dave = graded.table["dave"]
    assert dave["1.3"] == "pass"
    assert dave["3.2"] == f"error: dave.ipynb: timed out after {TIMEOUT_S:g} s"
    assert dave["notebook"] == f"dave.ipynb: timed out after {TIMEOUT_S:g} s"


def test_students_are_notebooks_or_folders(tmp_path: Path) -> None:
    (tmp_path / "eve").mkdir()
    for path in (tmp_path / "frank.ipynb", tmp_path / "eve" / "01.ipynb", tmp_path / "eve" / "02.ipynb"):
        nbformat.write(nbformat.v4.new_notebook(), path)
    students = grade.find_students(tmp_path)
    assert {k: [p.name for p in v] for k, v in students.items()} == {
        "frank": ["frank.ipynb"],
        "eve": ["01.ipynb", "02.ipynb"],
    }
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no notebooks"):
        grade.find_students(tmp_path / "empty")
    with pytest.raises(ValueError, match="does not exist"):
        grade.find_students(tmp_path / "missing")


def test_a_file_that_is_not_a_notebook_is_reported_for_its_student(graded: Graded) -> None:
    erin = graded.table["erin"]
    assert erin["notebook"].startswith("erin.ipynb: could not be run")
    assert erin["1.3"].startswith("error: erin.ipynb: could not be run")


def test_the_old_module_path_runs_the_same_command_line() -> None:
    assert old_grade.main is grade.main and old_grade.grade is grade.grade
    command = [sys.executable, "-m", "mvdlib.grade", "--help"]
    printed = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    assert printed.startswith("usage: python -m mvdlib.classroom.grade") and "--timeout" in printed
