"""Every glued number the prose quotes is defined on its page, and every glued number is quoted.

The introduction promises that every number in the text is computed on its page: the
markdown cites it as ``{glue:text}`name:format``` and a code cell computes it with
``glue("name", value)``. A missing name fails the build late and with a vague message; an
unused one is a computed number that no sentence checks any more. Both are found here
statically (no execution), so the test runs in CI in well under a second.

Names built by f-strings (``glue(f"ch12_{m}_P", ...)``) become patterns in which each
``{...}`` field matches one or more characters.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb")) + sorted((ROOT / "book").glob("*.ipynb"))
# {glue}`name`, {glue:text}`name:.2f`, {glue:any}`name` ... (the role's name, then the key).
GLUE_ROLE = re.compile(r"\{glue(?::[a-z]+)?\}`([^`:<\s]+)")
# ```{glue:figure} name  /  :::{glue} name  (directive forms)
GLUE_DIRECTIVE = re.compile(r"^[ \t]*(?:`{3,}|:{3,})\{glue(?::[a-z]+)?\}[ \t]+(\S+)", re.M)


def used_names(nb: nbformat.NotebookNode) -> set[str]:
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return set(GLUE_ROLE.findall(text)) | set(GLUE_DIRECTIVE.findall(text))


def _name_pattern(node: ast.expr) -> str | None:
    """A regex for the first argument of ``glue(...)``: a string or an f-string literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):
        parts = [re.escape(v.value) if isinstance(v, ast.Constant) else ".+" for v in node.values]
        return "".join(parts)
    return None


def defined_patterns(nb: nbformat.NotebookNode) -> list[str]:
    """Regexes of the names the code cells glue; a name that is not a literal fails the test."""
    patterns = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "glue" and node.args:
                pattern = _name_pattern(node.args[0])
                name = ast.unparse(node.args[0])
                assert pattern is not None, f"glue name must be a string or f-string literal, got {name}"
                patterns.append(pattern)
    return patterns


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=rel)
def test_every_quoted_glue_name_is_defined(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    patterns = defined_patterns(nb)
    missing = sorted(n for n in used_names(nb) if not any(re.fullmatch(p, n) for p in patterns))
    assert not missing, f"{rel(path)}: the markdown quotes glue names that no code cell defines: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=rel)
def test_every_glued_name_is_quoted(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    used = used_names(nb)
    unused = sorted(p for p in defined_patterns(nb) if not any(re.fullmatch(p, n) for n in used))
    assert not unused, f"{rel(path)}: code cells glue names that no sentence quotes (as regexes): {unused}"


def test_the_checker_sees_both_kinds_of_mismatch() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("A {glue:text}`a_1:.2f` and {glue:text}`b:.0f` and {glue}`c`."),
        nbformat.v4.new_code_cell('for k in (1, 2):\n    glue(f"a_{k}", k, display=False)\nglue("c", 3)\nglue("d", 4)'),
    ]
    assert used_names(nb) == {"a_1", "b", "c"}
    patterns = defined_patterns(nb)
    assert [n for n in sorted(used_names(nb)) if not any(re.fullmatch(p, n) for p in patterns)] == ["b"]
    assert [p for p in patterns if not any(re.fullmatch(p, n) for n in used_names(nb))] == ["d"]
