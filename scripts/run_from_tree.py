"""Run the attrbench command line of a source tree, whatever attrbench is installed.

Usage:
    python scripts/run_from_tree.py SRC_DIR run --method ig ...

``SRC_DIR`` holds ``attrbench/``, ``methods/`` and ``datasets/`` side by side, as a checkout or
``git archive <commit> | tar -x -C SRC_DIR`` does. ``PYTHONPATH=SRC_DIR`` alone is not enough:
the installed package maps ``attrbench.methods`` and ``attrbench.datasets`` to *its* ``methods/``
and ``datasets/`` folders (setuptools ``package-dir``, an editable install's import hook), so an
old tree would run with the current methods and datasets. Here a finder placed first on
``sys.meta_path`` maps the two packages to ``SRC_DIR``; every other ``attrbench`` module comes from
``SRC_DIR/attrbench`` because ``SRC_DIR`` is put first on ``sys.path``.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import runpy
import sys
from pathlib import Path
from types import ModuleType

#: packages installed from folders outside ``attrbench/`` (pyproject.toml ``package-dir``).
MAPPED = ("methods", "datasets")


class TreeFinder(importlib.abc.MetaPathFinder):
    """Finds ``attrbench.methods`` and ``attrbench.datasets`` in ``src`` (their submodules follow the package path)."""

    def __init__(self, src: Path) -> None:
        self.src = src

    def find_spec(self, name: str, path: object = None, target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        head, _, sub = name.partition(".")
        if head != "attrbench" or sub not in MAPPED:
            return None
        folder = self.src / sub
        return importlib.util.spec_from_file_location(name, folder / "__init__.py", submodule_search_locations=[str(folder)])


def use_tree(src: Path) -> None:
    """Import attrbench (and its mapped packages) from ``src`` in this process from now on."""
    src = src.resolve()
    missing = [d for d in ("attrbench", *MAPPED) if not (src / d / "__init__.py").is_file()]
    if missing:
        raise SystemExit(f"run_from_tree: {src} is not an attrbench source tree (no {', '.join(missing)}/__init__.py)")
    if any(name == "attrbench" or name.startswith("attrbench.") for name in sys.modules):
        raise SystemExit("run_from_tree: attrbench is already imported in this process")
    sys.path.insert(0, str(src))
    sys.meta_path.insert(0, TreeFinder(src))


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) >= 2 else 2
    use_tree(Path(argv[1]))
    sys.argv = ["attrbench", *argv[2:]]
    runpy.run_module("attrbench", run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
