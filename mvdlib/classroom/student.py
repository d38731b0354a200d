"""The student edition of the book: every notebook with its solutions taken out (instructors' guide).

One source serves both editions. A checkable coding exercise keeps its solution between
nbgrader-style markers in a code cell, and its discussion in a ``{solution}`` block:

* each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block (markers included) becomes one
  line ``<indent>...  # your code here``, so a function body becomes a stub and the
  exercise's check reports "not attempted yet";
* every ``{solution}`` directive is deleted from the markdown (a cell left empty is dropped);
* outputs and execution counts are cleared, and a solution cell is no longer folded
  (``hide-input`` removed), since the student writes in it.

Command line: ``python -m mvdlib.classroom.student [--src chapters] [--out _build/student]``; with
``--book DIR`` it also writes a copy of the book's sources whose chapters are the student
edition, configured for an HTML build without solutions (``make student-html``).
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

from mvdlib.classroom.answers import DIGEST_KEY, cell_digest

__all__ = [
    "Stripped",
    "strip_code",
    "strip_markdown",
    "plain_exercises",
    "student_notebook",
    "write_student_edition",
    "write_student_book",
    "main",
]

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = "...  # your code here"
#: Tags of a solution cell in the full edition; ``hide-input`` folds it in the HTML book.
SOLUTION_TAG = "solution"
#: The tag of the cell the student edition adds under an open question, for the written answer.
ANSWER_TAG = "answer"
FOLD_TAG = "hide-input"

# The opening line of a {solution} directive (backtick or colon fence, any length) and its
# fence, e.g. ````{solution} ex-fcrn-1
_OPEN = re.compile(r"^[ \t]*(?P<fence>`{3,}|:{3,})\{solution(?:-start|-end)?\}")


@dataclass
class Stripped:
    """What :func:`student_notebook` removed from one notebook."""

    code_blocks: int = 0
    solution_directives: int = 0


def strip_code(source: str) -> tuple[str, int]:
    """Replace each marked solution block of a code cell by the stub line; returns (source, blocks).

    Raises:
        ValueError: for a BEGIN without its END, an END without a BEGIN, or nested markers.
    """
    out: list[str] = []
    blocks = 0
    inside = False
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise ValueError(f"line {number}: {BEGIN!r} inside another solution block")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + STUB)
            blocks += 1
        elif marker == END:
            if not inside:
                raise ValueError(f"line {number}: {END!r} without {BEGIN!r}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN!r} without {END!r}")
    return ("\n".join(out) if blocks else source), blocks  # a cell without a solution is kept as it is


def strip_markdown(source: str) -> tuple[str, int]:
    """Delete every ``{solution}`` directive (fence to matching fence) from markdown; returns (source, count).

    Raises:
        ValueError: for a ``{solution}`` fence that is never closed.
    """
    lines = source.splitlines()
    out: list[str] = []
    count = 0
    i = 0
    while i < len(lines):
        opening = _OPEN.match(lines[i])
        if not opening:
            out.append(lines[i])
            i += 1
            continue
        fence = opening.group("fence")
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = next((j for j in range(i + 1, len(lines)) if closing.match(lines[j])), None)
        if end is None:
            raise ValueError(f"line {i + 1}: {{solution}} block opened with {fence} is never closed")
        count += 1
        i = end + 1
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")
    return text, count


# The opening of an {exercise} directive, e.g. ````{exercise} Depth or ray length?
_EXERCISE = re.compile(r"^[ \t]*(?P<fence>`{3,}|:{3,})\{exercise\}[ \t]*(?P<title>.*)$")


def plain_exercises(source: str, chapter: int | None) -> list[tuple[str, str | None]]:
    """Markdown with each ``{exercise}`` directive as a plain heading "Exercise C.N: title", split per exercise.

    Returns ``(markdown, key)`` chunks: the text before the first exercise (key None), then one
    chunk per exercise starting at its heading (key "C.N", or "N" without a chapter). Plain
    Jupyter and Colab render headings and ``$math$`` but not MyST directives.
    """
    lines = source.splitlines()
    chunks: list[tuple[list[str], str | None]] = [([], None)]
    i = 0
    while i < len(lines):
        opening = _EXERCISE.match(lines[i])
        if not opening:
            chunks[-1][0].append(lines[i])
            i += 1
            continue
        fence = opening.group("fence")
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = next((j for j in range(i + 1, len(lines)) if closing.match(lines[j])), len(lines))
        body = lines[i + 1 : end]
        label = ""
        while body and re.match(r"^:[\w-]+:", body[0]):
            if body[0].startswith(":label:"):
                label = body[0].split(":", 2)[2].strip()
            body = body[1:]
        number = re.search(r"-(\d+)$", label)
        key = (f"{chapter}." if chapter is not None else "") + (number[1] if number else "?")
        title = opening.group("title").strip()
        heading = f"### Exercise {key}" + (f": {title}" if title else "")
        chunks.append(([heading, "", *body], key))
        i = end + 1
    out = [(re.sub(r"\n{3,}", "\n\n", "\n".join(text)).strip("\n"), key) for text, key in chunks]
    return [(text, key) for text, key in out if text or key]


def _answer_cell(key: str) -> nbformat.NotebookNode:
    """The cell under an open question where the student writes (tagged for the grader)."""
    cell = nbformat.v4.new_markdown_cell(f"**Your answer to exercise {key}:**\n\n*(write here)*")
    cell.id = f"answer-{key.replace('.', '-')}"
    cell.metadata["tags"] = [ANSWER_TAG]
    cell.metadata["exercise"] = key
    return cell


def _calls_check(cell: nbformat.NotebookNode | None, key: str) -> bool:
    return cell is not None and cell.cell_type == "code" and f"exercise_{key.replace('.', '_')}(" in cell.source


def student_notebook(nb: nbformat.NotebookNode, chapter: int | None = None) -> tuple[nbformat.NotebookNode, Stripped]:
    """The student edition of one notebook (a copy) and what was removed from it.

    Exercise directives become plain headings (:func:`plain_exercises`; ``chapter`` numbers
    them) and every exercise not answered by a checked code cell gets an answer cell.
    """
    nb = copy.deepcopy(nb)
    removed = Stripped()
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source, n = strip_markdown(cell.source)
            removed.solution_directives += n
            if n and not cell.source.strip():
                continue
            chunks = plain_exercises(cell.source, chapter)
            if any(key for _, key in chunks):
                following = nb.cells[index + 1] if index + 1 < len(nb.cells) else None
                for k, (text, key) in enumerate(chunks):
                    part = copy.deepcopy(cell)
                    part.source = text
                    if k and cell.get("id"):
                        part.id = f"{cell.id}-{k}"
                    cells.append(part)
                    if key and not (k == len(chunks) - 1 and _calls_check(following, key)):
                        cells.append(_answer_cell(key))
                continue
        elif cell.cell_type == "code":
            cell.source, n = strip_code(cell.source)
            removed.code_blocks += n
            cell.outputs = []
            cell.execution_count = None
            tags = cell.metadata.get("tags", [])
            if SOLUTION_TAG in tags:
                cell.metadata["tags"] = [t for t in tags if t != FOLD_TAG]
        cells.append(cell)
    nb.cells = cells
    # The grader flags a submission whose instructor cells changed (nbgrader's checksums).
    nb.metadata[DIGEST_KEY] = {
        c.id: cell_digest(c.source)
        for c in cells
        if c.get("id") and not {SOLUTION_TAG, ANSWER_TAG} & set(c.metadata.get("tags", []))
    }
    return nb, removed


def write_student_edition(src: Path, out: Path) -> dict[str, Stripped]:
    """Write the student edition of every notebook in ``src`` (a folder) to ``out``; returns what each lost."""
    src, out = Path(src), Path(out)
    notebooks = sorted(src.glob("*.ipynb"))
    if not notebooks:
        raise ValueError(f"src must be a folder of notebooks, found none in {src}")
    out.mkdir(parents=True, exist_ok=True)
    report = {}
    for path in notebooks:
        chapter = int(path.name[:2]) if path.name[:2].isdigit() else None
        student, removed = student_notebook(nbformat.read(path, as_version=4), chapter)
        nbformat.write(student, out / path.name)
        report[path.name] = removed
    return report


#: The instructors' guide (rubrics, answers) is replaced in the student site by this page.
INSTRUCTORS_PAGE = "book/instructors"
INSTRUCTORS_STUB = """# For instructors

The instructors' guide (learning objectives, assignment sets, rubrics, grading) is part of
the full edition of this book, built from the same repository with `make book`.
"""


def write_student_book(root: Path, out: Path) -> None:
    """Write to ``out`` the book's sources with student chapters, no instructors' guide, solutions hidden.

    The copy keeps ``book/`` (front matter, extensions, static assets) and the table of
    contents; the instructors' guide becomes a one-paragraph page (links to it still
    resolve); ``_config.yml`` adds sphinx-exercise's ``hide_solutions`` (a second guard: the
    student notebooks hold no ``{solution}`` blocks) and says "student edition" in the title.
    """
    root, out = Path(root), Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copytree(root / "book", out / "book", ignore=shutil.ignore_patterns("instructors.*"))
    (out / f"{INSTRUCTORS_PAGE}.md").write_text(INSTRUCTORS_STUB, encoding="utf-8")
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    config["title"] = f"{config['title']} (student edition)"
    config.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
    (out / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    shutil.copy2(root / "_toc.yml", out / "_toc.yml")
    write_student_edition(root / "chapters", out / "chapters")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mvdlib.classroom.student", description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=Path("chapters"), help="folder of the full notebooks")
    parser.add_argument("--out", type=Path, default=Path("_build/student"), help="folder to write the student edition")
    parser.add_argument("--book", type=Path, help="also write the student book's sources (for an HTML build) here")
    args = parser.parse_args(argv)
    report = write_student_edition(args.src, args.out)
    for name, removed in report.items():
        print(f"{name}: {removed.code_blocks} solution blocks stubbed, {removed.solution_directives} solutions removed")
    print(f"student edition of {len(report)} notebooks written to {args.out}")
    if args.book:
        write_student_book(args.src.resolve().parent, args.book)
        print(f"sources of the student book written to {args.book}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
