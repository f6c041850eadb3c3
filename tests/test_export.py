"""Tables from stored records: means, CIs, arrows, bold best, formats, several models, CLI."""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from attrbench.cli import main as cli_main
from attrbench.export import best_mask, load_records, render, summarise, to_csv, to_latex, to_markdown
from attrbench.stats import mean_ci
from attrbench.testing.runs import write_run

# Means by construction: gt_spearman a=0.4, b=0.7, ref=0.9 (a reference row: never bold);
# deletion_auc (lower is better) a=2.0, b=3.0, ref=1.0.
VALUES = {
    "a": {"gt_spearman": [0.2, 0.4, 0.6], "deletion_auc": [1.0, 2.0, 3.0]},
    "b": {"gt_spearman": [0.5, 0.7, 0.9], "deletion_auc": [3.0, 3.0, 3.0]},
    "ref": {"gt_spearman": [0.9, 0.9, 0.9], "deletion_auc": [1.0, 1.0, 1.0]},
}
DIRECTIONS = {"gt_spearman": True, "deletion_auc": False}
CATEGORIES = {"gt_spearman": "ground_truth", "deletion_auc": "faithfulness"}


@pytest.fixture()
def run(tmp_path):
    return write_run(tmp_path / "run", values=VALUES, directions=DIRECTIONS, categories=CATEGORIES)


def test_summary_means_and_cis_come_from_the_records(run) -> None:
    s = summarise(load_records([run])).set_index(["method", "metric"])
    assert s.loc[("a", "gt_spearman"), "mean"] == pytest.approx(0.4, abs=1e-12)
    assert s.loc[("b", "gt_spearman"), "mean"] == pytest.approx(0.7, abs=1e-12)
    assert s.loc[("a", "deletion_auc"), "mean"] == pytest.approx(2.0, abs=1e-12)
    assert s.loc[("a", "gt_spearman"), "n"] == 3
    # the CI is the one attrbench.stats computes (the runner's summary uses the same function)
    _, lo, hi = mean_ci(np.array([0.2, 0.4, 0.6]), method="range")  # the default estimator changed from "t" (issue 10)
    assert s.loc[("a", "gt_spearman"), "ci_low"] == pytest.approx(lo, abs=1e-12)
    assert s.loc[("a", "gt_spearman"), "ci_high"] == pytest.approx(hi, abs=1e-12)
    assert lo < 0.4 < hi
    assert not s.loc[("a", "deletion_auc"), "higher_is_better"]


def test_failed_samples_are_counted_not_averaged(tmp_path) -> None:
    run = write_run(tmp_path / "r", values={"a": {"m": [1.0, 100.0, 3.0]}}, directions={"m": True},
                    failed={("a", "m"): [1]})
    s = summarise(load_records([run])).iloc[0]
    assert (s["n"], s["n_failed"]) == (2, 1)
    assert s["mean"] == pytest.approx(2.0, abs=1e-12)


def test_best_is_direction_aware_and_skips_reference_rows(run) -> None:
    s = summarise(load_records([run]))
    best = s[best_mask(s, exclude={"ref"})]
    assert set(zip(best["method"], best["metric"])) == {("b", "gt_spearman"), ("a", "deletion_auc")}
    # without the exclusion the reference row wins both columns
    best_all = s[best_mask(s)]
    assert set(best_all["method"]) == {"ref"}


def test_markdown_table(run) -> None:
    s = summarise(load_records([run]))
    text = to_markdown(s, reference={"ref"})
    lines = text.splitlines()
    assert lines[0] == "| method | n | gt_spearman ↑ | deletion_auc ↓ |"
    row_b = next(line for line in lines if line.startswith("| b |"))
    row_a = next(line for line in lines if line.startswith("| a |"))
    n_b = int(s.loc[s["method"] == "b", "n"].iloc[0])
    assert row_b.split("|")[2].strip() == str(n_b)  # n is shown in every table
    assert "**0.700** [" in row_b and "**" not in row_b.split("|")[4]
    assert "**2.000** [" in row_a
    assert "| ref (ref.) |" in text and "**0.900**" not in text
    # each row has the header's number of cells
    assert {line.count("|") for line in lines[:5]} == {5}


def test_latex_table_structure(run) -> None:
    s = summarise(load_records([run]))
    tex = to_latex(s, reference={"ref"})
    for token in ("\\toprule", "\\midrule", "\\bottomrule", "\\begin{tabular}{llrr}", "gt\\_spearman $\\uparrow$",
                  "deletion\\_auc $\\downarrow$", "\\textbf{0.700}", "\\textbf{2.000}", "ref$^\\dagger$"):
        assert token in tex, token
    body = [line for line in tex.splitlines() if line.endswith("\\\\")]
    assert len(body) == 4 and all(line.count("&") == 3 for line in body)
    assert tex.count("{") == tex.count("}")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_compiles(run, tmp_path) -> None:
    s = summarise(load_records([run]))
    doc = ("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n" + to_latex(s)
           + "\\end{document}\n")
    (tmp_path / "t.tex").write_text(doc)
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_csv_is_tidy_and_round_trips(run) -> None:
    s = summarise(load_records([run]))
    table = pd.read_csv(io.StringIO(to_csv(s, reference={"ref"})))
    assert list(table.columns) == ["model", "method", "metric", "n", "n_failed", "mean", "ci_low", "ci_high",
                                   "ci_method", "higher_is_better", "category", "best", "reference"]
    assert len(table) == 6
    best = table[table["best"]]
    assert set(zip(best["method"], best["metric"])) == {("b", "gt_spearman"), ("a", "deletion_auc")}
    assert table.loc[(table["method"] == "b") & (table["metric"] == "gt_spearman"), "mean"].item() == pytest.approx(0.7)


def test_several_models_get_a_model_column_and_best_per_model(tmp_path) -> None:
    r1 = write_run(tmp_path / "r1", values={"a": {"m": [1.0, 1.0]}, "b": {"m": [2.0, 2.0]}}, directions={"m": True},
                   model="net1", run_id="r1")
    r2 = write_run(tmp_path / "r2", values={"a": {"m": [5.0, 5.0]}, "b": {"m": [4.0, 4.0]}}, directions={"m": True},
                   model="net2", run_id="r2")
    s = summarise(load_records([r1, r2]))
    md = to_markdown(s)
    assert md.splitlines()[0] == "| model | method | n | m ↑ |"
    assert "| net1 | b | 2 | **2.000**" in md and "| net2 | a | 2 | **5.000**" in md
    tex = to_latex(s)
    assert "\\begin{tabular}{lllr}" in tex and tex.count("\\midrule") == 2  # header rule + one between models


def test_unknown_metric_column_is_a_clear_error(run) -> None:
    s = summarise(load_records([run]))
    with pytest.raises(ValueError, match="not in the records"):
        render(s, fmt="markdown", metrics=["nope"])


def test_cli_export_writes_file_and_reports_errors(run, tmp_path, capsys) -> None:
    out = tmp_path / "t.md"
    assert cli_main(["export", str(run), "--format", "markdown", "--metrics", "deletion_auc", "--out", str(out)]) == 0
    assert out.read_text().splitlines()[0] == "| method | n | deletion_auc ↓ |"
    assert cli_main(["export", str(run), "--format", "csv"]) == 0
    assert "model,method,metric" in capsys.readouterr().out
    assert cli_main(["export", str(run), "--metrics", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0]
    assert cli_main(["export", str(tmp_path / "missing-run")]) == 2


def test_reference_rows_come_from_the_method_registry() -> None:
    from attrbench.export import reference_methods

    # oracle/random/sobel declare MethodInfo.reference; unknown or external names are not references
    assert reference_methods({"oracle", "random[seed=3]", "sobel", "ig", "not-a-method", "pkg.mod:Nope"}) == {
        "oracle", "random[seed=3]", "sobel"}


def test_tied_with_best_group_is_bold_and_the_caption_names_the_test(tmp_path, capsys) -> None:
    from attrbench.stats import tied_with_best

    n = 12
    base = np.linspace(0.2, 0.8, n)
    wiggle = (-1.0) ** np.arange(n) * (np.arange(n) + 1) * 1e-3
    values = {"a": {"s": list(base + wiggle)}, "b": {"s": list(base - wiggle)}, "c": {"s": list(base - 0.3)},
              "oracle": {"s": list(base + 0.5)}}
    run = write_run(tmp_path / "tied", values=values, directions={"s": True})
    records = load_records([run])
    summary = summarise(records)
    tied = tied_with_best(records, alpha=0.05, reference={"oracle"})
    md = to_markdown(summary, reference={"oracle"}, tied=tied, alpha=0.05)
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| ")}
    assert "**" in rows["a"] and "**" in rows["b"]  # both members of the group are bold
    assert "**" not in rows["c"] and "**" not in rows["oracle (ref.)"]
    assert "Wilcoxon signed-rank" in md and "Holm" in md and "alpha = 0.05" in md
    assert "Holm" in to_latex(summary, reference={"oracle"}, tied=tied, alpha=0.05)
    csv = pd.read_csv(io.StringIO(to_csv(summary, reference={"oracle"}, tied=tied))).set_index("method")
    assert csv["best"].to_dict() == {"a": True, "b": True, "c": False, "oracle": False}
    capsys.readouterr()
    assert cli_main(["export", str(run), "--alpha", "0.05", "--reference", "a"]) == 0
    out = {line.split("|")[1].strip(): line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")}
    assert "**" not in out["a (ref.)"] and "**" in out["b"]  # an extra reference row leaves the group
