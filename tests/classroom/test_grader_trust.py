"""A class of submissions the grader must get right: honest ones, broken ones and forgeries (issue 21).

A small full-edition notebook (exercises 1.3, 1.5 and 9.1) goes through the student edition
(:func:`mvdlib.classroom.student.student_notebook`); each student fills its answer cells. Each
student is graded in its own test (``pytest -n`` runs them in parallel); per-cell limits are a
few seconds so the hang stays short.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from mvdlib import grade as old_grade  # the old path, kept for instructors' scripts
from mvdlib.classroom import grade as grade_module
from mvdlib.classroom.answers import DIGEST_KEY, cell_digest, edited_cells
from mvdlib.classroom.check import REGISTRY
from mvdlib.classroom.export import StreamingCsv, write_feedback
from mvdlib.classroom.grade import Assignment, find_students, grade, grade_student, load_assignment
from mvdlib.classroom.student import student_notebook

TIMEOUT_S = 10.0
KEYS = ["1.3", "1.5", "9.1"]
ASSIGNMENT = Assignment("mini", {"1.3": 2.0, "1.5": 2.0, "9.1": 1.0})

SETUP = "import numpy as np\nfrom mvdlib import check"
RIGHT = {
    "1.3": "def my_scale_intrinsics(K, sx, sy):\n"
    "    S = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])\n"
    "    return S @ K",
    "1.5": "def strided_intrinsics(K, step):\n    return np.diag([1 / step, 1 / step, 1.0]) @ K",
    "9.1": "plane_step_px = 285.0 * 0.1 * (2.0 - 0.02) / 63",
}
STUB = {
    "1.3": "def my_scale_intrinsics(K, sx, sy):\n    ...  # your code here",
    "1.5": "def strided_intrinsics(K, step):\n    ...  # your code here",
    "9.1": "plane_step_px = ...  # your answer",
}
CALL = {
    "1.3": "check.exercise_1_3(my_scale_intrinsics)",
    "1.5": "check.exercise_1_5(strided_intrinsics)",
    "9.1": "check.exercise_9_1(plane_step_px)",
}
WRONG = {
    "1.3": "def my_scale_intrinsics(K, sx, sy):\n    return np.diag([sx, sy, 1.0]) @ K",
    "1.5": "def strided_intrinsics(K, step):\n    return np.diag([step, step, 1.0]) @ K",
    "9.1": "plane_step_px = 285.0 * 0.1 * (2.0 - 0.02) / 64",
}
SOLUTION_FILE = "Path(mvdlib.__file__).parents[1] / 'chapters' / '01_camera_geometry.ipynb'"


def full_edition() -> nbformat.NotebookNode:
    """The instructor's notebook: a setup cell, a prose cell, one solution cell per exercise."""
    cells = [nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_markdown_cell("## Exercises\n\nSee the chapter.")]
    for key in KEYS:
        stub_head, _, _ = STUB[key].partition("...")
        body = RIGHT[key].split("\n", 1)[1] if key != "9.1" else RIGHT[key]
        solution = f"{stub_head}### BEGIN SOLUTION\n{body}\n### END SOLUTION" if key != "9.1" else None
        if solution is None:
            solution = f"plane_step_px = ...  # your answer\n### BEGIN SOLUTION\n{RIGHT[key]}\n### END SOLUTION"
        cell = nbformat.v4.new_code_cell(f"{solution}\n\n{CALL[key]}")
        cell.metadata["tags"] = ["solution", "hide-input"]
        cells.append(cell)
    for index, cell in enumerate(cells):
        cell.id = f"cell-{index}"  # the same ids in every copy, as in a chapter
    return nbformat.v4.new_notebook(cells=cells)


def submission(answers: dict[str, str], extra: str = "", edit: bool = False) -> nbformat.NotebookNode:
    """The student edition with ``answers`` (key -> cell text before the check call) filled in."""
    nb, _ = student_notebook(full_edition())
    for cell in nb.cells:
        for key in KEYS:
            if CALL[key] in cell.source:
                cell.source = f"{answers.get(key, STUB[key])}\n\n{CALL[key]}"
    if extra:
        nb.cells.append(nbformat.v4.new_code_cell(extra))
    if edit:
        nb.cells[1].source += "\n\nI changed this."
    return nb


FORGERIES = {
    "library function": (
        "1.3",
        {"1.3": "from mvdlib.geometry import scale_intrinsics\nmy_scale_intrinsics = scale_intrinsics"},
        "",
    ),
    "patched close": (
        "1.3",
        {"1.3": "import mvdlib.check.ch01\nmvdlib.check.ch01.close = lambda *a, **k: True\n" + STUB["1.3"]},
        "",
    ),
    "replaced check": (
        "1.5",
        {"1.5": "check.exercise_1_5 = lambda *a, **k: check.Result('1.5', 'pass', '')\n" + STUB["1.5"]},
        "",
    ),
    "forged log": (
        "9.1",
        {},
        "import os, json\nwith open(os.environ.get('MVDLIB_CHECK_LOG', 'log.jsonl'), 'a') as f:\n"
        "    f.write(json.dumps({'exercise': '9.1', 'status': 'pass', 'message': ''}) + '\\n')",
    ),
    "exec of the full edition": (
        "1.3",
        {
            "1.3": "import json, mvdlib\nfrom pathlib import Path\n"
            "def my_scale_intrinsics(K, sx, sy):\n"
            f"    cells = json.loads({SOLUTION_FILE}.read_text())['cells']\n"
            "    sources = [''.join(c['source']) for c in cells]\n"
            "    code = next(s for s in sources if 'def my_scale_intrinsics' in s)\n"
            "    ns = {'np': np, 'check': check}\n"
            "    exec(code.replace('check.exercise_1_3', 'print'), ns)\n"
            "    return ns['my_scale_intrinsics'](K, sx, sy)"
        },
        "",
    ),
    "alias imported in another cell": (
        "1.3",
        {"1.3": "def my_scale_intrinsics(K, sx, sy):\n    return sc(K, sx, sy)"},
        "from mvdlib.geometry import scale_intrinsics as sc",
    ),
    "getattr with a name built at run time": (
        "1.3",
        {
            "1.3": "def my_scale_intrinsics(K, sx, sy):\n    import mvdlib.geometry as g\n"
            "    return getattr(g, 'scale_' + 'intrinsics')(K, sx, sy)"
        },
        "",
    ),
    "reference called from a thread": (
        "1.3",
        {
            "1.3": "def my_scale_intrinsics(K, sx, sy):\n    import concurrent.futures as cf\n"
            "    import mvdlib.geometry as g\n    f = getattr(g, 'scale_' + 'intrinsics')\n"
            "    with cf.ThreadPoolExecutor(1) as ex:\n        return ex.submit(f, K, sx, sy).result()"
        },
        "",
    ),
    "module re-imported unwrapped": (
        "1.3",
        {
            "1.3": "def my_scale_intrinsics(K, sx, sy):\n    import sys\n    sys.modules.pop('mvdlib.geometry')\n"
            "    import mvdlib.geometry as g2\n    return getattr(g2, 'scale_' + 'intrinsics')(K, sx, sy)"
        },
        "",
    ),
    "full edition run with runpy": (
        "1.3",
        {
            "1.3": "import json, tempfile, mvdlib\nfrom pathlib import Path\n"
            "def my_scale_intrinsics(K, sx, sy):\n    import runpy\n"
            f"    cells = json.loads({SOLUTION_FILE}.read_text())['cells']\n"
            "    sources = [''.join(c['source']) for c in cells]\n"
            "    code = next(s for s in sources if 'def my_scale_intrinsics' in s)\n"
            "    path = Path(tempfile.mkdtemp()) / 'a.py'\n"
            "    path.write_text('import numpy as np\\n' + code.split('check.exercise_1_3')[0])\n"
            "    return runpy.run_path(str(path))['my_scale_intrinsics'](K, sx, sy)"
        },
        "",
    ),
    "lookup table of the check's seeded inputs": ("1.3", {"1.3": "LOOKUP"}, ""),
    "wrapped _record": (
        "9.1",
        {},
        "import mvdlib.classroom.check._core as c\nold = c._record\n"
        "c._record = lambda r: old(c.Result(r.exercise, 'pass', ''))\n" + "\n".join(CALL.values()),
    ),
}

HONEST = {
    "reference": ({**RIGHT}, {"1.3": "pass", "1.5": "pass", "9.1": "pass"}),
    "mistakes": ({**WRONG}, {"1.3": "fail", "1.5": "fail", "9.1": "fail"}),
    "written differently": (  # a helper and a constant in the cell, a local variable named like the reference
        {
            "1.3": "def _resize(sx, sy):\n"
            "    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1.0]])\n\n"
            "def my_scale_intrinsics(K, sx, sy):\n    scale_intrinsics = _resize(sx, sy) @ K\n"
            "    return scale_intrinsics",
            "1.5": "ONE = 1.0\n\ndef strided_intrinsics(K, step):\n    return np.diag([1 / step, 1 / step, ONE]) @ K",
            "9.1": RIGHT["9.1"],
        },
        {"1.3": "pass", "1.5": "pass", "9.1": "pass"},
    ),
    "half done": ({"1.3": RIGHT["1.3"]}, {"1.3": "pass", "1.5": "not attempted", "9.1": "not attempted"}),
    "raises": (
        {"1.3": RIGHT["1.3"] + "\nprnt('done')", "1.5": RIGHT["1.5"], "9.1": RIGHT["9.1"]},
        {"1.3": "pass", "1.5": "pass", "9.1": "pass"},
    ),
    "hangs": (
        {
            "1.3": "def my_scale_intrinsics(K, sx, sy):\n    while True:\n        pass",
            "1.5": RIGHT["1.5"],
            "9.1": RIGHT["9.1"],
        },
        {"1.3": "error", "1.5": "pass", "9.1": "pass"},
    ),
}


def lookup_table_answer() -> str:
    """A function that only replays the reference's outputs for the inputs the public check code draws."""
    from mvdlib.geometry import scale_intrinsics

    table = {}

    def recorder(K, sx, sy):  # noqa: N803 -- the book's name for the intrinsics
        out = scale_intrinsics(K, sx, sy)
        table[(round(float(K[0, 0]), 6), round(float(sx), 6), round(float(sy), 6))] = out.tolist()
        return out

    REGISTRY["1.3"](recorder)
    return (
        f"TABLE = {table!r}\n\ndef my_scale_intrinsics(K, sx, sy):\n"
        "    key = (round(float(K[0, 0]), 6), round(float(sx), 6), round(float(sy), 6))\n"
        "    return np.array(TABLE.get(key, np.eye(3).tolist()))"
    )


def _grade(tmp_path: Path, nb: nbformat.NotebookNode, name: str = "student", source: Path | None = None):
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return grade_student(name, [path], TIMEOUT_S, KEYS, source=source)


@pytest.mark.parametrize("name", sorted(HONEST))
def test_honest_students_get_what_they_earned(tmp_path: Path, name: str) -> None:
    answers, expected = HONEST[name]
    report = _grade(tmp_path, submission(answers))
    got = {k: v.split(":")[0] for k, v in report.exercises.items()}
    assert got == expected, report
    assert report.flags == []
    if name == "mistakes":
        assert "like the focal lengths" in report.exercises["1.3"] and "63 gaps" in report.exercises["9.1"]
    if name == "hangs":
        assert "out of time" in report.exercises["1.3"]
        assert any("interrupted" in p for p in report.notebook), report.notebook


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_each_forgery_scores_zero_on_its_exercise_and_is_flagged(tmp_path: Path, name: str) -> None:
    key, forged, extra = FORGERIES[name]
    forged = {k: lookup_table_answer() if v == "LOOKUP" else v for k, v in forged.items()}
    honest = {k: RIGHT[k] for k in KEYS if k != key}
    report = _grade(tmp_path, submission({**honest, **forged}, extra))
    assert report.exercises[key] != "pass", report
    if FORGERIES[name][1].get(key) == "LOOKUP":  # no forbidden code to flag: it fails on the checker's fresh inputs
        namespace = {"np": np}
        exec(forged[key], namespace)  # noqa: S102 -- the forgery passes the public check in this process
        assert REGISTRY["1.3"](namespace["my_scale_intrinsics"]).passed
        assert report.exercises[key].startswith("fail"), report
    else:
        assert report.flags, f"forgery {name!r} was not flagged: {report}"
    assert all(report.exercises[k] == "pass" for k in honest), report


def test_an_edited_instructor_cell_is_flagged(tmp_path: Path) -> None:
    report = _grade(tmp_path, submission(dict(RIGHT), edit=True))
    assert report.passed == 3 and any("was edited" in f for f in report.flags)


def test_a_removed_or_rewritten_record_of_the_instructor_cells_is_flagged(tmp_path: Path) -> None:
    removed = submission(dict(RIGHT), edit=True)
    del removed.metadata[DIGEST_KEY]
    report = _grade(tmp_path, removed)
    assert any("was removed" in f for f in report.flags), report.flags
    # A student who edits a cell and writes its new digest into the record: the instructor's copy decides.
    rewritten = submission(dict(RIGHT), edit=True)
    rewritten.metadata[DIGEST_KEY][rewritten.cells[1].id] = cell_digest(rewritten.cells[1].source)
    assert not edited_cells(rewritten)  # the notebook's own record is fooled ...
    source = tmp_path / "source"
    source.mkdir()
    nbformat.write(full_edition(), source / "homework.ipynb")  # the student renamed it: found by its cell ids
    report = _grade(tmp_path, rewritten, source=source)
    assert any("was changed" in f for f in report.flags) and any("was edited" in f for f in report.flags), report.flags
    honest = _grade(tmp_path, submission(dict(RIGHT)), source=source)  # ... the instructor's copy is not
    assert honest.flags == [] and honest.passed == 3, honest


def test_a_class_with_garbage_and_unknown_keys_is_graded_and_sorted_by_points(tmp_path: Path) -> None:
    class_dir = tmp_path / "class"
    class_dir.mkdir()
    nbformat.write(submission({"1.3": RIGHT["1.3"]}), class_dir / "half.ipynb")
    nbformat.write(submission(dict(WRONG)), class_dir / "wrong.ipynb")
    unknown = submission({}, "from mvdlib import check as chk\nchk.exercise_1_5(None)\ncheck.exercise_99_1(3)")
    unknown.cells[-1].metadata["tags"] = ["solution"]
    nbformat.write(unknown, class_dir / "unknown.ipynb")
    (class_dir / "garbage.ipynb").write_text("{not json")
    out = StreamingCsv(tmp_path / "grades.csv", ASSIGNMENT)
    reports = grade(class_dir, TIMEOUT_S, ASSIGNMENT, jobs=2, on_report=out.add)
    out.finish(reports)
    rows = list(csv.DictReader(open(tmp_path / "grades.csv", encoding="utf-8")))
    assert [r["student"] for r in rows][0] == "half" and float(rows[0]["total"]) == 2.0
    by_name = {r["student"]: r for r in rows}
    assert set(by_name) == {"half", "wrong", "unknown", "garbage"}
    assert by_name["wrong"]["attempted"] == "3" and by_name["unknown"]["attempted"] == "0"
    assert "not a readable notebook" in by_name["garbage"]["notebook"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing_folder"], "does not exist"),
        (["{class}", "--timeout", "-1"], "--timeout"),
        (["{class}", "--timeout", "nan"], "--timeout"),
        (["{class}", "--csv", "{tmp}/missing_dir/sub/out.csv"], None),
        (["{class}", "--csv", "/proc/out.csv"], "cannot be written"),
        (["{class}", "--assignment", "week9"], "assignment"),
        (["{class}", "--assignment", "{tmp}/twice.yaml"], "'1.3' is given twice, on lines 2 and 3"),
        (["{class}", "--jobs", "0"], "--jobs"),
        (["{class}", "--jobs", "100000"], "--jobs"),
        (["--run-one"], "--run-one"),
        (["--run-one", "{class}", "{tmp}", "{tmp}/r.json", "{tmp}/pid", "soon", "{{}}"], "--run-one"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str | None) -> None:
    nbformat.write(submission({}), tmp_path / "s.ipynb")
    (tmp_path / "twice.yaml").write_text('points:\n  "1.3": 2\n  "1.3": 3\n')
    argv = [a.format(**{"class": tmp_path / "s.ipynb", "tmp": tmp_path}) for a in args]
    if message is None:  # a missing folder for the CSV is created, not an error after grading
        from mvdlib.classroom.grade import _check_output

        _check_output(Path(argv[-1]), "--csv")
        return
    run = subprocess.run([sys.executable, "-m", "mvdlib.grade", *argv], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_students_are_notebooks_or_folders(tmp_path: Path) -> None:
    (tmp_path / "eve").mkdir()
    for path in (tmp_path / "frank.ipynb", tmp_path / "eve" / "01.ipynb", tmp_path / "eve" / "02.ipynb"):
        nbformat.write(nbformat.v4.new_notebook(), path)
    students = find_students(tmp_path)
    assert {k: [p.name for p in v] for k, v in students.items()} == {
        "frank": ["frank.ipynb"],
        "eve": ["01.ipynb", "02.ipynb"],
    }
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no notebooks"):
        find_students(tmp_path / "empty")


def test_the_shipped_assignments_load_and_name_checked_exercises() -> None:
    from mvdlib.classroom.check import REGISTRY

    for name in ("week1", "week4"):
        assignment = load_assignment(name)
        assert assignment.points and set(assignment.points) <= set(REGISTRY), name
    with pytest.raises(ValueError, match="assignment"):
        load_assignment("week9")


def test_the_old_module_path_runs_the_same_command_line() -> None:
    assert old_grade.main is grade_module.main and old_grade.grade is grade_module.grade
    command = [sys.executable, "-m", "mvdlib.grade", "--help"]
    printed = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    assert printed.startswith("usage: python -m mvdlib.grade") and "--jobs" in printed


def test_a_library_named_tuple_crosses_the_process_boundary() -> None:
    from mvdlib.classroom.isolated import pack, unpack
    from mvdlib.pointcloud import DepthView

    fields = [np.ones((2, 3)) if i == 0 else np.eye(3) for i in range(len(DepthView._fields))]
    view = DepthView(*fields)
    back = unpack(torch.load(io.BytesIO(_saved(pack(view))), weights_only=True))
    assert type(back) is DepthView and all(np.array_equal(a, b) for a, b in zip(back, view, strict=True))


def test_a_value_dressed_as_a_library_named_tuple_is_refused_not_called() -> None:
    """Only the library's named tuples are rebuilt: naming any other callable of mvdlib raises, calling nothing."""
    from mvdlib.classroom.isolated import unpack

    for target in (["mvdlib.classroom.isolated", "_Proxy"], ["mvdlib.geometry", "scale_intrinsics"], ["os", "system"]):
        with pytest.raises(ValueError, match="not"):
            unpack({"__namedtuple__": target, "fields": ["echo forged", "f"]})


def test_a_notebook_whose_cell_metadata_has_the_wrong_type_costs_only_its_student(tmp_path: Path) -> None:
    nb = submission({**RIGHT})
    nb.cells[-1].metadata["tags"] = None
    report = _grade(tmp_path, nb)
    assert any("could not be read" in line for line in report.notebook), report
    assert all(status == "not attempted" for status in report.exercises.values()), report


def _saved(value: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


SWALLOWS_INTERRUPTS = (
    "import time\nwhile True:\n    try:\n        time.sleep(1)\n    except KeyboardInterrupt:\n        pass"
)


def test_a_cell_that_ignores_the_interrupt_or_kills_its_kernel_costs_only_itself(tmp_path: Path) -> None:
    """The kernel is restarted and the cells before run again: a value answer after the cell (which needs
    the setup cell's ``np``) is still graded, and the report says which cell was lost and why."""
    nb = submission({**RIGHT, "9.1": "plane_step_px = float(np.float64(285.0) * 0.1 * (2.0 - 0.02) / 63)"})
    answer = next(i for i, c in enumerate(nb.cells) if CALL["9.1"] in c.source)
    for source in ("import os\nos.killpg(0, 9)", SWALLOWS_INTERRUPTS):  # the 9.1 answer cell comes after both
        nb.cells.insert(answer, nbformat.v4.new_code_cell(source))
    path = tmp_path / "student.ipynb"
    nbformat.write(nb, path)
    report = grade_student("student", [path], 2.0, KEYS)
    assert report.exercises == {"1.3": "pass", "1.5": "pass", "9.1": "pass"}, report
    problems = "; ".join(report.notebook)
    assert f"cell {answer} timed out; interrupt ignored" in problems, problems
    assert f"cell {answer + 1} ended its kernel" in problems, problems


def test_the_cell_of_a_value_answer_that_ignores_the_interrupt_is_named_in_the_answers_status(tmp_path: Path) -> None:
    nb = submission({**RIGHT, "9.1": RIGHT["9.1"] + "\n" + SWALLOWS_INTERRUPTS})
    answer = next(i for i, c in enumerate(nb.cells) if CALL["9.1"] in c.source)
    path = tmp_path / "student.ipynb"
    nbformat.write(nb, path)
    report = grade_student("student", [path], 2.0, KEYS)
    why = f"cell {answer} timed out; interrupt ignored"
    assert report.exercises["9.1"].startswith(f"error: {why}"), report
    assert report.exercises["1.3"] == "pass", report
    out = StreamingCsv(tmp_path / "grades.csv", ASSIGNMENT)  # the instructor's table and the student's feedback
    out.add(report)
    out.finish([report])
    row = next(csv.DictReader(open(tmp_path / "grades.csv", encoding="utf-8")))
    assert why in row["9.1 status"] and why in row["notebook"], row
    write_feedback([report], tmp_path / "feedback", ASSIGNMENT)
    assert f"Exercise 9.1: error: {why}" in (tmp_path / "feedback" / "student.md").read_text()


@pytest.mark.parametrize("kill", ["os.killpg(0, 9)", "os.kill(os.getppid(), 9)"])
def test_a_function_answer_that_kills_its_process_group_or_parent_does_not_end_the_grader(
    tmp_path: Path, kill: str
) -> None:
    """The checker and the student's server run in a session of their own; the grader (here a child
    process, so that a failure does not end pytest) reports an error for that exercise and goes on."""
    source = f"import os\n\ndef strided_intrinsics(K, step):\n    {kill}"
    script = (
        "from pathlib import Path\nfrom mvdlib.classroom.isolated import run_check\n"
        f"print(run_check('1.5', 'strided_intrinsics', {source!r}, Path('none'), Path('.'), 10.0))"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    assert "'error'" in run.stdout and "signal 9" in run.stdout, run.stdout


def test_a_cell_that_kills_the_notebooks_runner_is_named_and_the_grader_goes_on(tmp_path: Path) -> None:
    """The kernel's parent is the grader's runner, not the grader: the value answers after it are lost, and
    the report and the answer's status say which cell did it."""
    nb = submission(dict(RIGHT))
    answer = next(i for i, c in enumerate(nb.cells) if CALL["9.1"] in c.source)
    nb.cells.insert(answer, nbformat.v4.new_code_cell("import os\nos.kill(os.getppid(), 9)"))
    path = tmp_path / "student.ipynb"
    nbformat.write(nb, path)
    report = grade_student("student", [path], 5.0, KEYS)
    assert report.exercises["1.3"] == "pass" and report.exercises["1.5"] == "pass", report
    why = f"cell {answer} ended the grader's process that ran the notebook (signal 9)"
    assert why in report.exercises["9.1"] and report.exercises["9.1"].startswith("error"), report
    assert any(why in p for p in report.notebook), report.notebook
