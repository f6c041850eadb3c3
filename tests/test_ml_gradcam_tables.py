"""Tables of the ml-gradcam experiment: verdicts, Holm-corrected paired comparisons and the
quality-vs-Recall@1 table, on records built by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attrbench.experiments.ml_gradcam import VARIANTS
from attrbench.experiments.ml_gradcam_figures import quality_vs_recall
from attrbench.experiments.ml_gradcam_tables import COMPARISONS, comparisons_from_records, verdict
from attrbench.stats import holm, paired_wilcoxon


def test_verdict_rules():
    kw = dict(margin=0.02, higher_is_better=True)
    assert verdict(mean=0.05, low=0.03, high=0.07, p_holm=0.001, **kw) == "first better"
    assert verdict(mean=0.05, low=0.03, high=0.07, p_holm=0.001, margin=0.02, higher_is_better=False) == "second better"
    assert verdict(mean=0.001, low=-0.01, high=0.012, p_holm=0.6, **kw) == "agrees within +-0.02"
    # the old "agrees" on an interval touching 0 and reaching past the margin is no agreement
    assert verdict(mean=0.016, low=0.0, high=0.032, p_holm=0.2, **kw) == "inconclusive"
    assert verdict(mean=0.0, low=-0.02, high=0.01, p_holm=0.9, **kw) == "inconclusive"  # touches the margin


def _records(values: dict[str, np.ndarray], metric: str = "loc_energy_mask") -> pd.DataFrame:
    rows = [{"sample_id": f"s{i}", "method": m, "metric": metric, "value": float(v), "status": "ok"}
            for m, vs in values.items() for i, v in enumerate(vs)]
    return pd.DataFrame(rows)


def test_comparisons_are_wilcoxon_with_holm_over_the_family():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.3, 0.6, 40)
    values = {}
    for _, first, second in COMPARISONS:
        values.setdefault(second, base + rng.normal(0, 0.002, 40))
        values.setdefault(first, base + rng.normal(0, 0.002, 40))
    values["mlgradcam[n_triplets=50,top_k=none]"] = base + 0.05 + rng.normal(0, 0.01, 40)  # clearly better
    comp = comparisons_from_records(_records(values), metrics=("loc_energy_mask",))
    assert len(comp) == len(COMPARISONS)
    ps = [paired_wilcoxon(values[a], values[b]) for _, a, b in COMPARISONS]
    np.testing.assert_allclose(comp["p"], ps)
    np.testing.assert_allclose(comp["p_holm"], holm(ps))
    row = comp.set_index("comparison").loc["averaging helps (Grad-CAM)"]
    assert row["verdict"] == "first better" and row["mean_diff"] == pytest.approx(
        float(np.mean(values["mlgradcam[n_triplets=50,top_k=none]"] - values["mlgradcam[n_triplets=1,top_k=none]"])))
    top_k = comp.set_index("comparison").loc["top-k helps (Grad-CAM)"]
    assert top_k["verdict"] == "second better"
    same = comp.set_index("comparison").loc["transfer keeps quality (Grad-CAM++)"]
    assert same["verdict"] == "agrees within +-0.02"


def test_quality_vs_recall_means_per_model_and_variant():
    specs = [spec for _, _, spec in VARIANTS]
    runs = []
    for model, recall, level in (("weak", 0.3, 0.2), ("strong", 0.7, 0.6)):
        values = {spec: np.full(5, level + 0.01 * k) for k, spec in enumerate(specs)}
        runs.append({"model": model, "recall@1": recall, "records": _records(values)})
    table = quality_vs_recall(runs, VARIANTS)
    energy = table[table["metric"] == "loc_energy_mask"].set_index(["model", "spec"])
    assert energy.loc[("strong", specs[2]), "mean"] == pytest.approx(0.62)
    assert energy.loc[("weak", specs[0]), "recall@1"] == 0.3 and energy.loc[("weak", specs[0]), "n"] == 5
    assert table[table["metric"] == "deletion_auc"]["mean"].isna().all()  # no deletion records given
