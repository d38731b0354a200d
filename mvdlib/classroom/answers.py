"""What a student answered, read from the notebook's text, and what in it looks forged (issue 21).

The grader never trusts what a student's kernel reports. It reads each exercise's answer from
the answer cell (a code cell tagged ``solution``, the cell that calls ``check.exercise_C_N(x)``):

* a *function answer*: ``x`` is defined by a ``def x(...)`` in that cell; the answer is that
  definition's source, with the notebook's top-level imports, run later in a fresh process;
* a *value answer*: anything else; its value is fetched from the executed kernel.

:func:`tampering` lists what no honest answer does: touching the checks' internals
(``_record``, ``REGISTRY``, ``_core``), assigning to an attribute of ``check`` or ``mvdlib``,
``exec``/``eval``/``compile``/``__import__``, ``importlib``, the check log's variable, or an
answer that names the library function its check compares against. The student edition records
a checksum of every instructor cell (:func:`cell_digest`); :func:`edited_cells` names those changed.
"""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass

import nbformat

__all__ = ["Answer", "DIGEST_KEY", "cell_digest", "answers_in", "tampering", "edited_cells", "is_stub_source"]

SOLUTION_TAG = "solution"
#: Notebook metadata key under which the student edition records its instructor cells' digests.
DIGEST_KEY = "mvdlib_instructor_cells"
_FORBIDDEN_CALLS = {"exec", "eval", "compile", "__import__", "setattr", "delattr"}
_FORBIDDEN_ATTRS = {"_record", "REGISTRY", "_core", "__code__", "__globals__"}
_FORBIDDEN_MODULES = ("importlib", "mvdlib.classroom.check._core", "mvdlib.check._core", "builtins")


@dataclass(frozen=True)
class Answer:
    """One exercise's answer: ``key`` ("1.3"), ``name`` (the argument of the check call),
    ``source`` (imports + the function's definition; empty for a value answer)."""

    key: str
    name: str
    source: str
    cell: int

    @property
    def is_function(self) -> bool:
        return bool(self.source)


def cell_digest(source: str) -> str:
    """The sha256 of a cell's source, blind to trailing whitespace and line endings."""
    text = "\n".join(line.rstrip() for line in source.replace("\r\n", "\n").strip().splitlines())
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _parse(source: str) -> ast.Module | None:
    """A code cell's syntax tree; IPython magics and shell lines are blanked; None when it does not parse."""
    text = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    try:
        return ast.parse(text)
    except SyntaxError:
        return None


def _check_calls(tree: ast.AST) -> list[tuple[str, ast.expr]]:
    """(key, argument) of every ``<anything>.exercise_C_N(argument)`` call."""
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            match = re.fullmatch(r"exercise_(\d+)_(\d+)", node.func.attr)
            if match:
                calls.append((f"{match[1]}.{match[2]}", node.args[0]))
    return calls


def _code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


def answers_in(nb: nbformat.NotebookNode) -> dict[str, Answer]:
    """Every exercise answered in a ``solution``-tagged cell, by key; the last call of a key counts."""
    imports = []
    for cell in _code_cells(nb):
        tree = _parse(cell.source)
        if tree is not None:
            imports += [ast.unparse(n) for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    header = "\n".join(dict.fromkeys(imports))
    found: dict[str, Answer] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or SOLUTION_TAG not in cell.metadata.get("tags", []):
            continue
        tree = _parse(cell.source)
        if tree is None:
            continue
        defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        for key, arg in _check_calls(tree):
            name = ast.unparse(arg)
            node = defs.get(name) if isinstance(arg, ast.Name) else None
            source = f"{header}\n\n{ast.unparse(node)}\n" if node is not None else ""
            found[key] = Answer(key, name, source, index)
    return found


def is_stub_source(source: str, name: str) -> bool:
    """True when function ``name`` in ``source`` does nothing: only a docstring, ``...`` or ``pass``."""
    tree = _parse(source)
    node = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None) if tree else None
    if node is None:
        return True
    return all(
        isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)) for s in node.body
    )


def _root_name(node: ast.expr) -> str:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""


def tampering(nb: nbformat.NotebookNode, reference_names: dict[str, set[str]] | None = None) -> list[str]:
    """What in the notebook's code looks like forging a result (empty for an honest notebook).

    ``reference_names`` maps an exercise key to the names of the library functions its check
    compares against; an answer cell of that exercise that names one is reported.
    """
    found: list[str] = []
    recorded = nb.metadata.get(DIGEST_KEY)
    instructor = recorded if isinstance(recorded, dict) else {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or instructor.get(cell.get("id")) == cell_digest(cell.source):
            continue  # an unchanged instructor cell (its setup imports importlib) is not the student's doing
        tree = _parse(cell.source)
        if tree is None:
            continue
        where = f"cell {index}"
        if "MVDLIB_CHECK_LOG" in cell.source:
            found.append(f"{where} uses the check log's variable")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FORBIDDEN_CALLS:
                found.append(f"{where} calls {node.func.id}()")
            elif isinstance(node, ast.Attribute) and node.attr in _FORBIDDEN_ATTRS:
                found.append(f"{where} touches .{node.attr}")
            elif isinstance(node, ast.Import | ast.ImportFrom):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                names = [a.name for a in node.names]
                if any(m.startswith(_FORBIDDEN_MODULES) for m in modules) or "_core" in names:
                    found.append(f"{where} imports {', '.join(modules)}")
            elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Attribute) and _root_name(target) in {"check", "mvdlib", "chk"}:
                        found.append(f"{where} assigns to {ast.unparse(target)}")
        if reference_names and SOLUTION_TAG in cell.metadata.get("tags", []):
            used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
            used |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
            for key, _ in _check_calls(tree):
                for name in sorted(used & reference_names.get(key, set())):
                    found.append(f"{where} (exercise {key}) uses the library's reference {name}")
    return list(dict.fromkeys(found))


def edited_cells(nb: nbformat.NotebookNode) -> list[str]:
    """The instructor cells (recorded by the student edition) that are missing or changed."""
    recorded = nb.metadata.get(DIGEST_KEY)
    if not isinstance(recorded, dict):
        return []
    present = {c.get("id"): cell_digest(c.source) for c in nb.cells}
    return [
        f"instructor cell {cell_id} {'was deleted' if cell_id not in present else 'was edited'}"
        for cell_id, digest in recorded.items()
        if present.get(cell_id) != digest
    ]
