"""`attrbench methods` reads a static table: it must agree with the classes and import no torch."""

from __future__ import annotations

import subprocess
import sys


def test_static_table_agrees_with_the_classes() -> None:
    from attrbench.method_metadata import live_rows
    from attrbench.methods import METHODS
    from attrbench.methods_table import TABLE

    assert sorted(TABLE) == sorted(METHODS), "regenerate with: python -m attrbench.method_metadata"
    assert TABLE == live_rows(sorted(METHODS)), "regenerate with: python -m attrbench.method_metadata"


def test_listing_methods_imports_no_torch() -> None:
    code = ("import sys; from attrbench.cli import main; code = main(['methods', 'ig*']); "
            "assert code == 0, code; print(sorted(m for m in ('torch', 'captum') if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0].split()[0] == "method"
    assert "ig " in out and "Sundararajan et al." in out
    assert out.strip().splitlines()[-1] == "[]"


def test_plugin_rows_come_from_the_class() -> None:
    from attrbench.method_metadata import rows_for

    rows = rows_for(["ig", "attrbench.testing.toys:ToyInputXGradient"])
    assert list(rows) == ["ig", "attrbench.testing.toys:ToyInputXGradient"]
    assert rows["ig"]["paper"].startswith("Sundararajan") and "n_steps=32" in rows["ig"]["hyperparameters"]
    assert set(rows["attrbench.testing.toys:ToyInputXGradient"]) == {"resolution", "flags", "paper", "hyperparameters"}
