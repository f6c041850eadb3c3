"""Normalised curve AUCs in the tables: the normalised AUC of the mean curve, on hand-built curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attrbench.raw_ranking import RATIO_OF_MEANS, curve_of, end_points, ratio_of_means
from attrbench.results import summarise

FRACTIONS = np.array([0.0, 0.5, 1.0])


def _curve(f_x: float, f_fill: float, offset: float) -> np.ndarray:
    """A 3-point deletion curve from f(x) to f(fill) whose AUC - f(fill) is ``offset``
    (trapezoid: AUC = f(x) / 4 + mid / 2 + f(fill) / 4)."""
    mid = 2 * (f_fill + offset - f_x / 4 - f_fill / 4)
    return np.array([f_x, mid, f_fill])


def _runs(images: list[tuple[float, float, dict[str, float]]], *, insertion: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Records (normalised and raw AUC per image and method) and curves made from the same curves."""
    name, curve = ("insertion_auc", "insertion") if insertion else ("deletion_auc[fill=zero]", "deletion[fill=zero]")
    raw_name = name.replace("_auc", "_auc_raw")
    recs, curves = [], []
    for i, (f_x, f_fill, offsets) in enumerate(images):
        for method, offset in offsets.items():
            scores = _curve(f_x, f_fill, offset)
            stored = scores[::-1] if insertion else scores  # an insertion curve runs from the fill to the image
            raw = float(np.trapezoid(stored, FRACTIONS))
            for metric, value in ((name, (raw - f_fill) / (f_x - f_fill)), (raw_name, raw)):
                recs.append({"model": "m", "method": method, "metric": metric, "sample_id": f"s{i}", "value": value,
                             "status": "ok", "higher_is_better": insertion, "category": "faithfulness"})
            curves += [{"model": "m", "method": method, "curve": curve, "sample_id": f"s{i}", "step": k,
                        "fraction": FRACTIONS[k], "score": stored[k]} for k in range(3)]
    return pd.DataFrame(recs), pd.DataFrame(curves)


#: 9 images with f(x) - f(fill) = 10, where a deletes faster (offset 3 vs 5), and one whose fill scores
#: almost like the image (f(x) - f(fill) = 0.01), where the per-image normalisation explodes (50 vs 20).
EXPLODING = [(11.0, 1.0, {"a": 3.0, "b": 5.0})] * 9 + [(1.01, 1.0, {"a": 0.5, "b": 0.2})]


def test_curve_names_and_end_points() -> None:
    assert curve_of("deletion_auc[fill=blur]") == "deletion[fill=blur]"
    assert curve_of("insertion_auc") == "insertion" and curve_of("patch_deletion_auc") == "patch_deletion"
    _, deletion = _runs([(7.0, 2.0, {"a": 1.0})])
    _, insertion = _runs([(7.0, 2.0, {"a": 1.0})], insertion=True)
    for curves in (deletion, insertion.sample(frac=1.0, random_state=0)):  # row order does not matter
        row = end_points(curves).iloc[0]
        assert (row.f_x, row.f_fill) == (7.0, 2.0)


def test_ratio_of_means_is_the_normalised_auc_of_the_mean_curve() -> None:
    records, curves = _runs(EXPLODING)
    out = ratio_of_means(records, curves).set_index("method")
    # closed form: mean offset / mean drop, a 2.75 / 9.001 and b 4.52 / 9.001
    assert out.loc["a", "mean"] == pytest.approx(2.75 / 9.001, rel=1e-12)
    assert out.loc["b", "mean"] == pytest.approx(4.52 / 9.001, rel=1e-12)
    for method in "ab":  # independently: trapezoid of the mean curve, rescaled by its own end points
        mean_curve = curves[curves.method == method].groupby("step")["score"].mean().to_numpy()
        by_hand = (np.trapezoid(mean_curve, FRACTIONS) - mean_curve[-1]) / (mean_curve[0] - mean_curve[-1])
        assert out.loc[method, "mean"] == pytest.approx(by_hand, rel=1e-12)
    per_image = records[records.metric == "deletion_auc[fill=zero]"].groupby("method")["value"].mean()
    assert per_image["b"] < per_image["a"]  # the per-image mean (5.27 vs 2.45) crowns the wrong method
    assert out.loc["a", "mean"] < out.loc["b", "mean"]  # the ratio of means crowns a, which wins 9 of 10 images
    assert (out["ci_low"] <= out["mean"]).all() and (out["mean"] <= out["ci_high"]).all()
    assert (out["n"] == 10).all()


def test_equal_end_points_give_the_per_image_mean_and_insertion_swaps_them() -> None:
    images = [(9.0, 1.0, {"a": o}) for o in (1.0, 2.0, 6.0)]
    for insertion in (False, True):
        records, curves = _runs(images, insertion=insertion)
        row = ratio_of_means(records, curves).iloc[0]
        per_image = records[~records.metric.str.contains("_raw")]["value"].mean()
        assert row["mean"] == pytest.approx(per_image, rel=1e-12) == pytest.approx(3.0 / 8.0)


def test_undefined_when_the_fill_does_not_delete_on_average() -> None:
    records, curves = _runs([(1.0, 3.0, {"a": 0.5}), (2.0, 2.5, {"a": 0.2})])
    row = ratio_of_means(records, curves).iloc[0]
    assert np.isnan(row["mean"]) and np.isnan(row["ci_low"]) and np.isnan(row["ci_high"])


def test_failed_raw_values_are_left_out() -> None:
    records, curves = _runs(EXPLODING)
    records.loc[(records.sample_id == "s9") & (records.metric == "deletion_auc_raw[fill=zero]"), "status"] = "failed"
    out = ratio_of_means(records, curves).set_index("method")
    assert (out["n"] == 9).all() and out.loc["a", "mean"] == pytest.approx(0.3, rel=1e-12)


def test_summarise_prints_the_ratio_of_means_given_the_curves() -> None:
    records, curves = _runs(EXPLODING)
    extra = records[records.metric == "deletion_auc_raw[fill=zero]"].assign(metric="road_morf")
    records = pd.concat([records, extra], ignore_index=True)
    plain = summarise(records).set_index(["method", "metric"])
    with_curves = summarise(records, curves=curves).set_index(["method", "metric"])
    rom = ratio_of_means(records, curves).set_index(["method", "metric"])
    key = ("a", "deletion_auc[fill=zero]")
    assert with_curves.loc[key, "mean"] == rom.loc[key, "mean"] and with_curves.loc[key, "ci_method"] == RATIO_OF_MEANS
    assert plain.loc[key, "ci_method"] != RATIO_OF_MEANS and plain.loc[key, "mean"] > 5  # the exploded mean
    others = [k for k in plain.index if k[1] != "deletion_auc[fill=zero]"]
    pd.testing.assert_frame_equal(plain.loc[others], with_curves.loc[others])
    assert list(summarise(records, curves=curves).columns) == list(summarise(records).columns)


def test_captions_say_how_normalised_aucs_are_summarised() -> None:
    from attrbench.export import render

    records, curves = _runs(EXPLODING)
    note = "deletion_auc: normalised AUC of the mean curve (ratio of means)"
    for fmt in ("markdown", "latex"):
        with_curves = render(summarise(records, curves=curves), fmt=fmt, metrics=["deletion_auc[fill=zero]"])
        plain = render(summarise(records), fmt=fmt, metrics=["deletion_auc[fill=zero]"])
        assert note.replace("_", "\\_" if fmt == "latex" else "_") in with_curves and "ratio of means" not in plain
        assert "undefined" not in with_curves
    records, curves = _runs([(1.0, 3.0, {"a": 0.5}), (2.0, 2.5, {"a": 0.2})])  # the fill does not delete
    assert "–: undefined, the fill does not lower the mean score" in render(summarise(records, curves=curves), fmt="markdown")


def _gate_run(path, images, *, with_curves: bool = True):
    """A run directory (attrbench.testing.runs.write_run) holding the constructed deletion curves."""
    from attrbench.testing.runs import write_run

    curves = {(m, i): _curve(f_x, f_fill, off) for i, (f_x, f_fill, offs) in enumerate(images) for m, off in offs.items()}
    values: dict[str, dict[str, list[float]]] = {}
    for (method, i), c in curves.items():
        raw = float(np.trapezoid(c, FRACTIONS))
        f_x, f_fill = c[0], c[-1]
        values.setdefault(method, {}).setdefault("deletion_auc", []).append((raw - f_fill) / (f_x - f_fill))
        values[method].setdefault("deletion_auc_raw", []).append(raw)
    return write_run(path, values=values, directions={"deletion_auc": False, "deletion_auc_raw": False},
                     categories={"deletion_auc": "faithfulness", "deletion_auc_raw": "faithfulness"}, n_steps=2,
                     curve=(lambda m, kind, i, fr: curves[(m, i)]) if with_curves else None,
                     config={"metrics": ["deletion"]})  # fmt: skip


def test_the_gate_catches_a_regression_the_per_image_mean_hides(tmp_path) -> None:
    from attrbench.check import compare, make_baseline, save_baseline
    from attrbench.errors import DataError
    from attrbench.export import load_tables

    worse = [(f_x, f_fill, {"a": offs["a"] + (1.0 if f_x - f_fill > 1 else 0.0), "b": offs["b"]})
             for f_x, f_fill, offs in EXPLODING]  # on the 9 ordinary images, AUC - f(fill) of a grows by 1: a deletes slower
    base = make_baseline([_gate_run(tmp_path / "base", EXPLODING)])
    entry = next(e for e in base["entries"] if e["method"] == "a" and e["metric"] == "deletion_auc")
    assert entry["ci_method"] == RATIO_OF_MEANS and entry["mean"] == pytest.approx(2.75 / 9.001, rel=1e-12)
    new = load_tables([_gate_run(tmp_path / "worse", worse)])
    rows = compare(base, new.records, curves=new.curves).table.set_index(["method", "metric"])
    assert rows.loc[("a", "deletion_auc"), "verdict"] == "REGRESSION"  # +0.9 / 9.001 = +0.10, tolerance 0.011
    assert rows.loc[("b", "deletion_auc"), "verdict"] == "ok"
    same = load_tables([tmp_path / "base"])
    assert not compare(base, same.records, curves=same.curves).failed
    with pytest.raises(DataError, match="curves"):
        compare(base, new.records)
    # the same runs without curves: per-image means, whose exploding image widens the tolerance past the change
    plain = make_baseline([_gate_run(tmp_path / "plain", EXPLODING, with_curves=False)])
    assert next(e for e in plain["entries"] if e["method"] == "a" and e["metric"] == "deletion_auc")["tolerance"] > 1
    assert compare(plain, new.records, curves=new.curves).table.set_index(["method", "metric"]).loc[
        ("a", "deletion_auc"), "verdict"] == "ok"
    save_baseline(base, tmp_path / "b.json")


def test_the_gate_keeps_the_per_image_mean_where_the_ratio_is_undefined(tmp_path) -> None:
    from attrbench.check import load_baseline, make_baseline, save_baseline

    base = make_baseline([_gate_run(tmp_path / "r", [(1.0, 3.0, {"a": 0.5}), (2.0, 2.5, {"a": 0.2})])])
    entry = next(e for e in base["entries"] if e["metric"] == "deletion_auc")
    assert entry["ci_method"] != RATIO_OF_MEANS and np.isfinite(entry["mean"])
    assert load_baseline(save_baseline(base, tmp_path / "b.json"))["entries"] == base["entries"]
