"""Package layering: which package may import which, and no import cycle between modules.

Imports are read with ``ast`` from every module under ``src/edgeship``, the ones inside
functions (lazy imports) included; only imports under ``if TYPE_CHECKING:`` are left out,
because they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

#: The modules at the root of the package: shared by everyone, importing only each other.
CORE = {
    "edgeship", "_lazy", "_records", "card", "childproc", "discovery", "errors", "fileio",
    "manifest", "metrics", "modelfile", "netutil", "runtime_flags", "samples", "typecheck",
    "versions",
}  # fmt: skip

#: What each package may import besides the core modules (lower layers only).
ALLOWED: dict[str, set[str]] = {
    "datasets": set(),
    "runtime": set(),
    "bench": {"runtime"},
    "serve": {"runtime"},
    "fleet": {"bench", "runtime"},
    "convert": {"datasets", "runtime"},
    "train": {"datasets"},
    "pipeline": {"bench", "convert", "datasets", "fleet", "runtime", "train"},
    "cli": {"bench", "convert", "datasets", "fleet", "pipeline", "runtime", "serve", "train"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(name: str, is_package: bool, source: str, modules: set[str]) -> dict[str, int]:
    """The ``edgeship`` modules that module ``name`` imports, with a line number each.

    ``from package import submodule`` counts as importing the submodule, not the package.
    """
    found: dict[str, int] = {}
    for node in _import_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                parts = name.split(".") if is_package else name.split(".")[:-1]
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        for target in targets:
            if target.split(".")[0] == "edgeship" and target != name:
                found.setdefault(target, node.lineno)
    return found


def import_graph() -> dict[str, dict[str, int]]:
    paths = {_module_name(p): p for p in (SRC / "edgeship").rglob("*.py")}
    modules = set(paths)
    return {
        name: imports_of(name, path.name == "__init__.py", path.read_text(), modules)
        for name, path in paths.items()
    }


def package_of(module: str) -> str:
    parts = module.split(".")
    return "edgeship" if len(parts) == 1 else parts[1]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_package_imports_only_the_layers_below_it():
    graph = import_graph()
    packages = {package_of(m) for m in graph}
    assert packages - CORE - set(ALLOWED) == set(), "place the new package in ALLOWED"
    wrong = []
    for module, targets in sorted(graph.items()):
        here = package_of(module)
        for target, line in targets.items():
            there = package_of(target)
            if there == here or there in CORE:
                continue
            if here in CORE or there not in ALLOWED.get(here, set()):
                wrong.append(f"{module} (line {line}) imports {target}")
    assert wrong == [], "imports against the layering:\n" + "\n".join(wrong)


def test_the_layering_itself_has_no_cycle():
    assert _cycles({k: set(v) for k, v in ALLOWED.items()}) == []


def test_no_import_cycle_between_modules():
    """A package's ``__init__`` is its facade: its own modules may reach it lazily."""
    graph = import_graph()
    facades = {m for m in graph if (SRC / Path(*m.split(".")) / "__init__.py").is_file()}
    edges = {
        module: {t for t in targets if t in graph and t not in facades}
        for module, targets in graph.items()
    }
    assert _cycles(edges) == []


def test_the_reader_sees_lazy_imports_and_skips_type_checking_ones():
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from edgeship.train import TrainConfig\n"
        "def f():\n    from edgeship.convert.core import convert\n"
        "    import edgeship.serve\n"
        "from . import fileio\n"
    )
    modules = {"edgeship.convert.core", "edgeship.fileio", "edgeship.errors"}
    found = imports_of("edgeship.errors", False, source, modules)
    assert set(found) == {"edgeship.convert.core", "edgeship.serve", "edgeship.fileio"}
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
