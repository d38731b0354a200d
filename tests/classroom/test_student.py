"""The student edition: solutions out, stubs in, nothing else changed.

The solution text is found here by its own simple parse of the full notebooks (marked code
blocks and ``{solution}`` fences), independently of :mod:`mvdlib.classroom.student`. That every
student notebook executes is checked by ``make test`` (nbval-lax on ``_build/student``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from mvdlib.classroom import check
from mvdlib.classroom.answers import DIGEST_KEY
from mvdlib.classroom.check._core import NOT_ATTEMPTED
from mvdlib.classroom.student import (
    STUB,
    strip_code,
    strip_markdown,
    student_notebook,
    write_student_book,
    write_student_edition,
)

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
CODE_BLOCK = re.compile(r"^[ \t]*### BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*### END SOLUTION[ \t]*$", re.M | re.S)
SOLUTION_FENCE = re.compile(r"^[ \t]*(`{3,}|:{3,})\{solution\}[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.M | re.S)


def text_of(nb: nbformat.NotebookNode, kind: str) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == kind)


def solution_lines(nb: nbformat.NotebookNode) -> set[str]:
    """Lines that occur only inside solutions: marked code blocks and {solution} bodies."""
    code, markdown = text_of(nb, "code"), text_of(nb, "markdown")
    inside = [m.group(1) for m in CODE_BLOCK.finditer(code)] + [m.group(2) for m in SOLUTION_FENCE.finditer(markdown)]
    outside = CODE_BLOCK.sub("", code) + "\n" + SOLUTION_FENCE.sub("", markdown)
    outside_lines = {line.strip() for line in outside.splitlines()}
    return {
        line.strip()
        for block in inside
        for line in block.splitlines()
        if line.strip()
        and not line.strip().startswith(":")
        and line.strip() not in outside_lines
        and not set(line.strip()) <= set("`~")
    }


@pytest.fixture(scope="module")
def edition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("student")
    write_student_edition(ROOT / "chapters", out)
    return out


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_student_edition_holds_no_solution_text(path: Path, edition: Path) -> None:
    full = nbformat.read(path, as_version=4)
    student = nbformat.read(edition / path.name, as_version=4)
    lines = solution_lines(full)
    assert lines, f"{path.name}: found no solution text to look for"
    student_text = {line.strip() for c in student.cells for line in c.source.splitlines()}
    leaked = sorted(lines & student_text)
    assert not leaked, f"{path.name}: solution lines in the student edition: {leaked[:5]}"
    assert "{solution}" not in text_of(student, "markdown")
    assert "### BEGIN SOLUTION" not in text_of(student, "code")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_student_edition_keeps_every_other_cell_and_clears_outputs(path: Path, edition: Path) -> None:
    full = nbformat.read(path, as_version=4)
    student = nbformat.read(edition / path.name, as_version=4)
    kept = [
        c.id for c in full.cells if not (c.cell_type == "markdown" and SOLUTION_FENCE.sub("", c.source).strip() == "")
    ]
    original = [c for c in student.cells if c.id in kept]
    assert [c.id for c in original] == kept
    added = [c for c in student.cells if c.id not in kept]  # exercises split per cell, open questions' answer cells
    assert all(
        c.cell_type == "markdown" and (c.id.startswith("answer-") or c.id.rsplit("-", 1)[0] in kept) for c in added
    )
    for before, after in zip([c for c in full.cells if c.id in kept], original, strict=True):
        if before.cell_type == "code":
            assert after.outputs == [] and after.execution_count is None
            if "### BEGIN SOLUTION" not in before.source:
                assert after.source == before.source
            else:
                assert "hide-input" not in after.metadata.get("tags", []), "the student writes in this cell: unfold it"


def test_strip_code_leaves_a_stub_at_the_marker_indent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MVDLIB_CHECK_STRICT", raising=False)
    source = (
        "def f(s, lam):\n    ### BEGIN SOLUTION\n    return 2 * s\n    ### END SOLUTION\n\n\ncheck.exercise_3_2(f)\n"
        "### BEGIN SOLUTION\nprint(f(3))\n### END SOLUTION"
    )
    stripped, blocks = strip_code(source)
    assert blocks == 2
    assert stripped == f"def f(s, lam):\n    {STUB}\n\n\ncheck.exercise_3_2(f)\n{STUB}"
    namespace: dict = {"check": check}
    exec(stripped, namespace)  # the stub runs, and its check says "not attempted yet"
    assert check.exercise_3_2(namespace["f"]).status == NOT_ATTEMPTED


@pytest.mark.parametrize(
    "source", ["### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION", "### BEGIN SOLUTION\n### BEGIN SOLUTION"]
)
def test_unbalanced_markers_are_an_error(source: str) -> None:
    with pytest.raises(ValueError, match="SOLUTION"):
        strip_code(source)


def test_strip_markdown_removes_solution_fences_of_any_kind_and_keeps_exercises() -> None:
    text = (
        "````{exercise} A\n:label: ex-a\n\nDo it.\n````\n\n"
        "````{solution} ex-a\n:class: dropdown\n\n```python\nsecret = 1\n```\n\nWhy.\n````\n\n"
        ":::{solution} ex-b\nalso secret\n:::\n\nAfter."
    )
    stripped, count = strip_markdown(text)
    assert count == 2
    assert stripped == "````{exercise} A\n:label: ex-a\n\nDo it.\n````\n\nAfter."
    with pytest.raises(ValueError, match="never closed"):
        strip_markdown("````{solution} ex-a\nopen")


def test_a_markdown_cell_that_was_only_a_solution_is_dropped() -> None:
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("````{solution} ex-a\nx\n````"), nbformat.v4.new_markdown_cell("# Kept")]
    )
    student, removed = student_notebook(nb)
    assert [c.source for c in student.cells] == ["# Kept"]
    assert removed.solution_directives == 1
    assert len(nb.cells) == 2, "the full notebook is not modified"


def test_student_book_sources_hide_solutions_and_replace_the_instructors_guide(tmp_path: Path) -> None:
    write_student_book(ROOT, tmp_path / "book")
    config = yaml.safe_load((tmp_path / "book" / "_config.yml").read_text())
    assert config["sphinx"]["config"]["hide_solutions"] is True
    assert config["title"].endswith("(student edition)")
    assert not (tmp_path / "book" / "book" / "instructors.ipynb").exists()
    assert "Rubrics" not in (tmp_path / "book" / "book" / "instructors.md").read_text()
    chapters = sorted(p.name for p in (tmp_path / "book" / "chapters").glob("*.ipynb"))
    assert chapters == [p.name for p in CHAPTERS]
    assert "### BEGIN SOLUTION" not in (tmp_path / "book" / "chapters" / "01_camera_geometry.ipynb").read_text()


@pytest.mark.parametrize("module", ["mvdlib.classroom.student", "mvdlib.student"])
def test_the_command_line_writes_the_edition_under_its_new_and_its_old_module_path(module: str, tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    cell = nbformat.v4.new_code_cell("def f(s):\n    ### BEGIN SOLUTION\n    return s\n    ### END SOLUTION\n")
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), src / "01.ipynb")
    command = [sys.executable, "-m", module, "--src", str(src), "--out", str(out)]
    printed = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    assert "01.ipynb: 1 solution blocks stubbed" in printed
    assert nbformat.read(out / "01.ipynb", as_version=4).cells[0].source == f"def f(s):\n    {STUB}"


def test_exercises_are_plain_numbered_headings_and_open_questions_get_answer_cells(edition: Path) -> None:
    student = nbformat.read(edition / "01_camera_geometry.ipynb", as_version=4)
    markdown = text_of(student, "markdown")
    assert "{exercise}" not in markdown and ":label:" not in markdown
    assert "### Exercise 1.3: Write `scale_intrinsics` yourself" in markdown and "$f_x, f_y, c_x, c_y$" in markdown
    answers = {c.metadata.get("exercise") for c in student.cells if "answer" in c.metadata.get("tags", [])}
    assert "1.2" in answers and "1.3" not in answers  # 1.3 is answered in its checked code cell
    assert DIGEST_KEY in student.metadata


def test_the_student_edition_is_written_without_torch() -> None:
    """`make student` works in a small venv (nbformat, PyYAML): the module and the package root import no torch."""
    code = "import sys, mvdlib.classroom.student; print(sorted({'torch', 'numpy', 'cv2'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_code_cell_without_a_solution_is_kept_exactly() -> None:
    source = "x = 1\nprint(x)\n"  # a trailing newline included
    assert strip_code(source) == (source, 0)
