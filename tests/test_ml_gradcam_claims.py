"""The paper's four claims are decided from comparison rows and benchmark rounds by fixed rules."""

from __future__ import annotations

import pandas as pd
import pytest

from attrbench.experiments.ml_gradcam_claims import (
    CLAIMS,
    claims_markdown,
    cross_model_records,
    decide_claims,
    speed_rows,
)


def _comp(verdicts: dict[tuple[str, str], str]) -> pd.DataFrame:
    rows = [{"comparison": c, "metric": m, "mean_diff": 0.1, "ci_low": 0.05, "ci_high": 0.15, "p_holm": 0.001,
             "verdict": v} for (c, m), v in verdicts.items()]
    return pd.DataFrame(rows)


def _all_rows(verdict: str, number: int) -> dict[tuple[str, str], str]:
    claim = next(c for c in CLAIMS if c.number == number)
    return {row: verdict for row in claim.evidence}


def _status(comp: pd.DataFrame, number: int, speed=()) -> str:  # noqa: ANN001
    return next(c["status"] for c in decide_claims(comp, speed=list(speed)) if c["number"] == number)


def test_claim_holds_only_when_every_row_supports_it():
    assert _status(_comp(_all_rows("first better", 1)), 1) == "holds"
    rows = _all_rows("first better", 1)
    rows[("ML Grad-CAM vs random map", "deletion_auc")] = "inconclusive"
    assert _status(_comp(rows), 1) == "inconclusive"
    rows[("ML Grad-CAM vs random map", "deletion_auc")] = "second better"
    assert _status(_comp(rows), 1) == "does not hold"


def test_transfer_claim_needs_equivalence_not_a_significant_difference():
    assert _status(_comp(_all_rows("agrees within +-0.02", 2)), 2) == "holds"
    # significantly better is still not "reproduces closely"
    assert _status(_comp(_all_rows("first better", 2)), 2) == "does not hold"
    assert _status(_comp(_all_rows("inconclusive", 2)), 2) == "inconclusive"


def test_unmeasured_claims_are_inconclusive():
    empty = pd.DataFrame()
    claims = decide_claims(empty, speed=[])
    assert [c["status"] for c in claims] == ["inconclusive"] * 4
    assert "not measured" in claims[2]["evidence"]
    table = claims_markdown(claims)
    assert table.count("**inconclusive**") == 4


def _bench(transfer: list[float], reference: list[float], model: str = "m") -> dict:
    forward = [1.0] * len(transfer)
    times = {"transfer": transfer, "bp N=50 top-k": reference, "forward": forward}
    return {"model": model, "times": {"1": times, "32": times}}


def test_speed_claim_from_paired_rounds():
    faster = speed_rows(_bench([1.0 + 0.01 * i for i in range(12)], [2.0 + 0.02 * i for i in range(12)]), model="m")
    assert [r["status"] for r in faster] == ["holds", "holds"]
    assert faster[0]["ratio"] == 0.5 and faster[0]["per_forward"] == pytest.approx(1.055)
    slower = speed_rows(_bench([2.0 + 0.01 * i for i in range(12)], [1.0 + 0.01 * i for i in range(12)]), model="m")
    assert [r["status"] for r in slower] == ["does not hold"] * 2
    # two rounds cannot reach p < 0.05 (Wilcoxon's smallest two-sided p with n = 2 is 0.5)
    few = speed_rows(_bench([1.0, 1.1], [2.0, 2.2]), model="m")
    assert [r["status"] for r in few] == ["inconclusive"] * 2
    assert speed_rows(_bench([1.0, 1.1], [2.0, 2.2]), model="other") == []
    comp = pd.DataFrame()
    assert _status(comp, 3, speed=faster) == "holds"


def test_cross_model_records_pair_the_first_model_with_the_lowest_recall():
    def run(name: str, recall: float, value: float) -> dict:
        rec = pd.DataFrame({"method": ["mlgradcam[n_triplets=50,top_k=50]", "random"], "sample_id": ["a", "a"],
                            "metric": ["loc_energy_mask"] * 2, "value": [value, 0.0], "status": ["ok", "ok"]})
        return {"model": name, "recall@1": recall, "records": rec}

    records, comparisons = cross_model_records([run("strong", 0.8, 0.5), run("mid", 0.4, 0.3), run("weak", 0.1, 0.2)])
    ((label, first, second),) = comparisons
    assert first.endswith("@ strong") and second.endswith("@ weak")
    assert sorted(records["method"]) == sorted([first, second])
    assert records.set_index("method").loc[second, "value"] == 0.2
    assert cross_model_records([run("only", 0.8, 0.5)]) == (None, ())
