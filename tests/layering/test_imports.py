"""The package layout itself (issue 15): no import loops (type-only imports
count), a docstring in every package saying what it owns, and no registries of
services outside the context. `make lint` checks the layering contracts with
import-linter; these need nothing but the AST."""

from __future__ import annotations

import ast
from pathlib import Path

import postfach

ROOT = Path(postfach.__file__).parent

# Loops tolerated for now: none. A new one fails the test below.
KNOWN: set[frozenset[str]] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every postfach module `name` imports, at run time or under TYPE_CHECKING."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            targets = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
            targets = targets or [base]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(frozenset(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_no_import_loops_type_only_included() -> None:
    modules = _modules()
    graph = {name: _imported(name, path, modules) for name, path in modules.items()}
    loops = [sorted(group) for group in _cycles(graph) if group not in KNOWN]
    assert loops == []


def test_every_package_has_an_init_with_a_docstring() -> None:
    for directory in [ROOT, *(p for p in ROOT.rglob("*") if p.is_dir())]:
        if directory.name == "__pycache__" or not any(directory.glob("*.py")):
            continue
        init = directory / "__init__.py"
        assert init.exists(), f"{directory} has no __init__.py"
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init} says nothing"


def test_services_live_on_the_context_not_in_registries() -> None:
    """App builds each service once and the context carries it: no module or class
    keeps per-store or per-process objects in a weak registry on the side."""
    registries = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text())
        bodies = [tree.body, *(c.body for c in tree.body if isinstance(c, ast.ClassDef))]
        for statement in (s for body in bodies for s in body):
            if isinstance(statement, ast.Assign | ast.AnnAssign) and "weakref." in ast.unparse(
                statement
            ):
                registries.append(f"{name}:{statement.lineno}")
    assert registries == []
