"""The benchmark helpers: a source tree's own methods/datasets, and run comparison with a tolerance."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_run_from_tree_takes_methods_and_datasets_from_the_tree(tmp_path: Path) -> None:
    """The installed attrbench maps attrbench.methods to its own folder; the launcher maps it to the tree's."""
    for package, text in (("attrbench", ""), ("methods", "WHERE = 'tree methods'\n"), ("datasets", "WHERE = 'tree datasets'\n")):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(text)
    (tmp_path / "methods" / "extra.py").write_text("WHERE = 'tree submodule'\n")
    (tmp_path / "attrbench" / "__main__.py").write_text(
        "import sys, attrbench, attrbench.methods.extra, attrbench.datasets\n"
        "print(attrbench.__file__, attrbench.methods.WHERE, attrbench.methods.extra.WHERE, attrbench.datasets.WHERE, sys.argv[1:])\n"
    )
    out = subprocess.run([sys.executable, str(SCRIPTS / "run_from_tree.py"), str(tmp_path), "run", "--x"],
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert out[0] == str(tmp_path / "attrbench" / "__init__.py")
    assert out[1:] == ["tree", "methods", "tree", "submodule", "tree", "datasets", "['run',", "'--x']"]


def test_run_from_tree_refuses_a_folder_that_is_no_tree(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPTS / "run_from_tree.py"), str(tmp_path), "run"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode != 0 and "is not an attrbench source tree" in done.stderr


def _run_dir(path: Path, values: list[float], scores: list[float], runtime: float) -> Path:
    path.mkdir()
    pd.DataFrame({"run_id": path.name, "metric": ["gt_spearman", "mprt_ssim@fc", "runtime_s"],
                  "value": [*values, runtime], "category": ["ground_truth", "randomisation", "cost"]}
                 ).to_parquet(path / "records.parquet")  # fmt: skip
    pd.DataFrame({"run_id": path.name, "step": [0, 1], "score": scores}).to_parquet(path / "curves.parquet")
    return path


def test_table_diff_reports_the_largest_difference_and_ignores_run_id_and_cost(tmp_path: Path) -> None:
    compare = _script("compare_runs")
    a = _run_dir(tmp_path / "a", [0.5, float("nan")], [1.0, 2.0], runtime=3.0)
    b = _run_dir(tmp_path / "b", [0.5 + 2**-20, float("nan")], [1.0, 2.0 - 2**-22], runtime=9.0)
    records = compare.table_diff(str(a), str(b), "records")
    curves = compare.table_diff(str(a), str(b), "curves")
    assert records.same_keys and records.max_abs == 2**-20 and curves.max_abs == 2**-22
    assert not records.ok(0.0) and records.ok(1e-6) and not records.ok(2**-21)
    assert compare.main([str(a), str(a)]) == 0 and compare.main([str(a), str(b)]) == 1
    assert compare.main([str(a), str(b), "--atol", "1e-6"]) == 0
    shuffled = tmp_path / "shuffled"  # the same rows in another order (runs that score samples in another order)
    shuffled.mkdir()
    for table in ("records", "curves"):
        t = pd.read_parquet(a / f"{table}.parquet")
        t.iloc[::-1].to_parquet(shuffled / f"{table}.parquet")
    assert compare.main([str(a), str(shuffled)]) == 0
    other = tmp_path / "other"  # one record renamed: a row of each run without a partner, named by its metric
    other.mkdir()
    t = pd.read_parquet(a / "records.parquet")
    t.loc[t.index[0], "metric"] = "elsewhere"
    t.to_parquet(other / "records.parquet")
    diff = compare.table_diff(str(a), str(other), "records")
    assert not diff.same_keys and diff.unmatched == 2 and diff.differing == ("elsewhere", "gt_spearman")
    assert diff.max_abs == 0.0  # the matched rows agree
    c = _run_dir(tmp_path / "c", [0.5, 0.25], [1.0, 2.0], runtime=3.0)  # NaN against a number
    assert compare.table_diff(str(a), str(c), "records").max_abs == float("inf")


def test_compare_leaderboards_by_construction(tmp_path: Path) -> None:
    """Same table: tau 1 and no move; means reversed: tau -1; a lower-is-better metric ranks ascending; reference rows left out."""
    cl = _script("compare_leaderboards")
    methods = ["a", "b", "c", "d"]
    old = pd.DataFrame({"model": "m", "method": methods + ["oracle"], "metric": "score", "n": 8,
                        "mean": [4.0, 3.0, 2.0, 1.0, 9.0], "higher_is_better": True,
                        "reference": [False] * 4 + [True]})  # fmt: skip
    same = cl.compare(old, old)
    assert same.kendall_tau.tolist() == [1.0] and same.top3_old[0] == "a, b, c" and same.methods[0] == 4
    reversed_ = old.assign(mean=[1.0, 2.0, 3.0, 4.0, 9.0], n=200)
    row = cl.compare(old, reversed_).iloc[0]
    assert row.kendall_tau == -1.0 and row.top3_new == "d, c, b" and row.n_new == 200
    assert row.largest_move in ("a 1 -> 4", "d 4 -> 1")
    lower = old.assign(higher_is_better=False)
    assert cl.compare(lower, lower).top3_old[0] == "d, c, b"
    old.to_csv(tmp_path / "old.csv", index=False)
    reversed_.to_csv(tmp_path / "new.csv", index=False)
    assert cl.main(["--old", str(tmp_path / "old.csv"), "--new", str(tmp_path / "new.csv"), "--out", str(tmp_path / "c.md")]) == 0
    assert "| m " in (tmp_path / "c.md").read_text()
    # the file's first line re-makes the file: options that select rows are part of it
    argv = ["--old", str(tmp_path / "old.csv"), "--new", str(tmp_path / "new.csv"), "--metrics", "score", "--out", str(tmp_path / "s.md")]
    assert cl.main(argv) == 0
    assert (tmp_path / "s.md").read_text().splitlines()[0].endswith("--metrics score")
    # a normalised AUC ranks by its raw companion where the table has one (the first leaderboard's AUCs were raw)
    raw = old.assign(metric="score_raw", mean=[1.0, 2.0, 3.0, 4.0, 9.0])
    assert cl.compare(old, pd.concat([old, raw])).kendall_tau.tolist() == [-1.0]
