"""The code's shape: no import cycle, every module importable, a light ``import attrbench``."""

from __future__ import annotations

import subprocess
import sys

from attrbench.testing.layout import find_cycle, import_graph, long_functions, modules


def test_cycle_finder_finds_a_cycle_built_by_hand() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_import_graph_reads_top_level_imports() -> None:
    graph = import_graph()
    assert "attrbench.context" in graph["attrbench.runner"]  # `from attrbench.context import RunContext`
    assert "attrbench.scoring" not in graph["attrbench.runner"]  # imported inside a function only
    assert "attrbench.targets" in graph["attrbench.api"]


def test_no_import_cycle_among_attrbench_modules() -> None:
    assert find_cycle(import_graph()) is None


def test_no_long_function_without_a_reason() -> None:
    assert long_functions() == {}


def test_every_module_imports_in_a_fresh_interpreter() -> None:
    names = sorted(n for n in modules() if not n.endswith("__main__"))
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    done = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_import_attrbench_is_light_and_the_api_is_lazy() -> None:
    code = (
        "import sys, attrbench\n"
        "heavy = sorted(m for m in ('torch', 'pandas', 'attrbench.runner') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "from attrbench.runspec import RunConfig\n"
        "assert attrbench.RunConfig is RunConfig and set(attrbench.__all__) == {'__version__', *attrbench._LAZY}\n"
        "assert 'torch' not in sys.modules\n"
        "import attrbench.runner\n"
        "assert attrbench.evaluate is attrbench.runner.evaluate and attrbench.load_run.__module__ == 'attrbench.results'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
