"""The package's layout holds: small modules, no import cycle, no import back up to the root.

A module of ``mvdlib`` imports other modules of the package only at its top (an import inside
a function hides an arrow from every reader and tool) and never from ``mvdlib/__init__``, which
only re-exports; the imports between modules form no cycle; no module grows past
``MAX_LINES``. Reads the source with :mod:`ast`, so nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mvdlib"
MAX_LINES = 460  # "about 450": the bound, with room for a docstring line
# Compatibility modules that alias a moved module (``sys.modules``) or run its CLI.
SHIMS = {"mvdlib.check", "mvdlib.grade", "mvdlib.student", "mvdlib.train", "mvdlib.evaluate"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """``(imported mvdlib module, at the top level)`` for every import of a package module."""
    tree = ast.parse(path.read_text())
    top = set(map(id, tree.body))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from mvdlib import cost_volume`` imports a submodule; ``from mvdlib import x`` the root
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module for a in node.names
            ]
        else:
            continue
        for name in names:
            if name.startswith("mvdlib"):
                while name not in MODULES and "." in name:
                    name = name.rsplit(".", 1)[0]
                found.append((name, id(node) in top))
    return found


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_longer_than_the_bound(name: str) -> None:
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines (at most {MAX_LINES}): split it by concern"


def test_no_submodule_imports_the_package_root() -> None:
    back = sorted(n for n, p in MODULES.items() if n != "mvdlib" and ("mvdlib", True) in _imports(p))
    back += sorted(n for n, p in MODULES.items() if ("mvdlib", False) in _imports(p))
    assert back == [], f"these modules import mvdlib/__init__ (import the submodule itself): {back}"


def test_the_imports_between_modules_form_no_cycle() -> None:
    graph = {n: {m for m, _ in _imports(p) if m != n and m != "mvdlib"} for n, p in MODULES.items()}
    for n in SHIMS & graph.keys():  # an alias points at the moved module, which never imports it back
        graph[n] = set()
    state: dict[str, int] = {}
    cycles = []

    def visit(n: str, path: list[str]) -> None:
        state[n] = 1
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                cycles.append(path[path.index(m) :] + [m] if m in path else [n, m])
            elif m not in state:
                visit(m, [*path, m])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    assert cycles == []
