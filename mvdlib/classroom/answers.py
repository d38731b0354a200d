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

__all__ = [
    "Answer", "DIGEST_KEY", "cell_digest", "answers_in", "tampering", "edited_cells", "is_stub_source",
    "names_in_solutions",
]  # fmt: skip

SOLUTION_TAG = "solution"
#: Notebook metadata key under which the student edition records its instructor cells' digests.
DIGEST_KEY = "mvdlib_instructor_cells"
_FORBIDDEN_CALLS = {"exec", "eval", "compile", "__import__", "setattr", "delattr"}
_FORBIDDEN_ATTRS = {
    "_record", "REGISTRY", "_core", "__code__", "__globals__", "__closure__", "__wrapped__", "__defaults__",
    "__kwdefaults__",
}  # fmt: skip
_FORBIDDEN_SYS = {"modules", "meta_path", "path_hooks", "_getframe", "settrace", "setprofile"}  # sys.<these>
_FORBIDDEN_MODULES = (
    "importlib",
    "mvdlib.classroom.check._core",
    "mvdlib.check._core",
    "builtins",
    "inspect",
    "gc",
    "runpy",
)


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
        defs = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        for key, arg in _check_calls(tree):
            name = ast.unparse(arg)
            is_function = isinstance(arg, ast.Name) and name in defs
            source = f"{header}\n\n{_cell_definitions(tree)}\n" if is_function else ""
            found[key] = Answer(key, name, source, index)
    return found


def _cell_definitions(tree: ast.Module) -> str:
    """What the answer cell defines, to run in the checker's server: its functions and classes as they are,
    its other statements (helper constants) each in ``try`` (a name from another cell is not there); its
    bare expressions and the check calls left out."""
    parts = []
    for node in tree.body:
        if isinstance(node, ast.Expr) or _check_calls(node):
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Import | ast.ImportFrom):
            parts.append(ast.unparse(node))
        else:
            body = "\n".join("    " + line for line in ast.unparse(node).splitlines())
            parts.append(f"try:\n{body}\nexcept Exception:\n    pass")
    return "\n\n".join(parts)


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


def tampering(
    nb: nbformat.NotebookNode,
    reference_names: dict[str, set[str]] | None = None,
    expected: dict[str, str] | None = None,
) -> list[str]:
    """What in the notebook's code looks like forging a result (empty for an honest notebook).

    ``reference_names`` maps an exercise key to the names of the library functions its check
    compares against; an answer cell of that exercise that names one is reported. Cells equal to
    an instructor cell (``expected``, else the notebook's own record) are not the student's doing.
    """
    found: list[str] = []
    recorded = nb.metadata.get(DIGEST_KEY) if expected is None else expected
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
            elif isinstance(node, ast.Attribute) and node.attr in _FORBIDDEN_SYS and _root_name(node) == "sys":
                found.append(f"{where} touches sys.{node.attr}")
            elif (
                isinstance(node, ast.ImportFrom)
                and node.module == "sys"
                and _FORBIDDEN_SYS & {a.name for a in node.names}
            ):
                found.append(f"{where} imports from sys what changes imports or frames")
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
            for key, arg in _check_calls(tree):
                used = _answer_names(tree, arg, bound_too=False)
                for name in sorted(used & reference_names.get(key, set())):
                    found.append(f"{where} (exercise {key}) uses the library's reference {name}")
    return list(dict.fromkeys(found))


def names_in_solutions(nb: nbformat.NotebookNode) -> dict[str, set[str]]:
    """Exercise key -> the names the book's own answer uses (:func:`_answer_names` of its ``solution`` cells)."""
    found: dict[str, set[str]] = {}
    for cell in _code_cells(nb):
        tree = _parse(cell.source) if SOLUTION_TAG in cell.metadata.get("tags", []) else None
        if tree is None:
            continue
        for key, arg in _check_calls(tree):
            found.setdefault(key, set()).update(_answer_names(tree, arg))
    return found


def _answer_names(tree: ast.Module, arg: ast.expr, bound_too: bool = True) -> set[str]:
    """The names an answer uses: when the check is given a function the cell defines, those of the cell's
    functions and classes (its verification code aside), else of the whole cell. Without ``bound_too``, names
    the cell binds itself (a local ``huber_penalty``) are left out unless an import brings them in."""
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
    is_function = isinstance(arg, ast.Name) and arg.id in {d.name for d in defs}
    names: set[str] = set()
    for node in defs if is_function else [tree]:
        loaded = _loaded_names(node) if bound_too else _loaded_names(node) - _bound_names(node)
        names |= loaded | _imported_names(node)
        names |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Load)}
    return names


def _loaded_names(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _bound_names(tree: ast.AST) -> set[str]:
    """Names the cell binds itself: variables, arguments, functions and classes (a local ``huber_penalty``)."""
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store | ast.Del)}
    bound |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments) for a in [*n.posonlyargs, *n.args,
              *n.kwonlyargs, *filter(None, [n.vararg, n.kwarg])]}  # fmt: skip
    bound |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    return bound


def _imported_names(tree: ast.AST) -> set[str]:
    """The library names an import in the cell brings in (``from mvdlib.x import f as g`` gives f)."""
    return {a.name.split(".")[-1] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}


def edited_cells(nb: nbformat.NotebookNode, expected: dict[str, str] | None = None) -> list[str]:
    """The instructor cells that are missing or changed.

    ``expected`` (cell id -> digest) comes from the instructor's own copy of the chapter, which a
    student cannot edit; without it the record the student edition wrote into the notebook's
    metadata is used, and a notebook without that record is reported.
    """
    recorded = nb.metadata.get(DIGEST_KEY)
    found = []
    if expected is None:
        if not isinstance(recorded, dict):
            return [f"the record of the instructor cells ({DIGEST_KEY}) was removed from the notebook's metadata"]
        expected = recorded
    elif recorded != expected:
        found.append(f"the record of the instructor cells ({DIGEST_KEY}) in the notebook's metadata was changed")
    present = {c.get("id"): cell_digest(c.source) for c in nb.cells}
    return found + [
        f"instructor cell {cell_id} {'was deleted' if cell_id not in present else 'was edited'}"
        for cell_id, digest in expected.items()
        if present.get(cell_id) != digest
    ]
