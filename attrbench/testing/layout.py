"""Checks of the code's shape: module sizes, function sizes and the import graph of attrbench.

The package's modules are read as source (``ast``), never imported, so a check cannot be fooled by
import-time side effects. ``attrbench.methods`` and ``attrbench.datasets`` are the top-level
``methods/`` and ``datasets/`` directories (installed under these names, see pyproject.toml).

Rules (the project's): no module over :data:`MAX_FILE_LINES` lines; no function over
:data:`MAX_FUNCTION_LINES` lines unless its docstring gives the reason in a line starting with
"Long:"; no cycle among the modules' top-level imports (imports inside functions are deferred
on purpose and do not count).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

__all__ = ["MAX_FILE_LINES", "MAX_FUNCTION_LINES", "find_cycle", "import_graph", "long_functions", "long_files",
           "modules"]  # fmt: skip

MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
_ROOT = Path(__file__).resolve().parents[2]
_PACKAGES = {"attrbench": _ROOT / "attrbench", "attrbench.methods": _ROOT / "methods",
             "attrbench.datasets": _ROOT / "datasets"}  # fmt: skip


def modules() -> dict[str, Path]:
    """Module name -> source file for every module of attrbench (tests and scripts excluded)."""
    out: dict[str, Path] = {}
    for package, root in _PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = path
    return out


def _top_level_imports(tree: ast.Module, name: str, is_package: bool) -> Iterator[str]:
    package = name if is_package else name.rpartition(".")[0]
    for node in tree.body:  # top level only, including `if` blocks but not TYPE_CHECKING ones
        nodes = [node]
        if isinstance(node, ast.If) and not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
            nodes = list(node.body) + list(node.orelse)
        for item in nodes:
            if isinstance(item, ast.Import):
                yield from (a.name for a in item.names)
            elif isinstance(item, ast.ImportFrom):
                base = item.module or ""
                if item.level:
                    parent = package.rsplit(".", item.level - 1)[0] if item.level > 1 else package
                    base = f"{parent}.{base}" if base else parent
                yield base
                yield from (f"{base}.{a.name}" for a in item.names)


def import_graph() -> dict[str, set[str]]:
    """Module -> the attrbench modules it imports at top level (importing ``a.b.c`` also runs ``a`` and ``a.b``)."""
    mods = modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        deps: set[str] = set()
        for target in _top_level_imports(tree, name, path.name == "__init__.py"):
            parts = target.split(".")
            deps.update(".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in mods)
        deps.discard(name)
        deps -= {p for p in deps if name.startswith(p + ".")}  # a module's own parent packages run first, not a cycle
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def long_files(limit: int = MAX_FILE_LINES) -> dict[str, int]:
    """Modules over ``limit`` lines -> their line count."""
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()}
    return {name: n for name, n in sizes.items() if n > limit}


def long_functions(limit: int = MAX_FUNCTION_LINES) -> dict[str, int]:
    """``module:function`` over ``limit`` lines whose docstring has no "Long:" reason -> line count."""
    out: dict[str, int] = {}
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                doc = ast.get_docstring(node) or ""
                if n > limit and not any(line.strip().startswith("Long:") for line in doc.splitlines()):
                    out[f"{name}:{node.name}"] = n
    return out
