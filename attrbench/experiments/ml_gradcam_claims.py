"""The four claims of Chen et al. ("Adapting Grad-CAM for Embedding Networks", WACV 2020, arXiv
2001.06538), each decided from the ``ml-gradcam`` experiment's statistics, never from prose.

The claims in our words (the paper's text as far as it was readable, docs/methods.md):

1. ML Grad-CAM (Grad-CAM of the triplet loss, averaged over many triplets, top-k channels) puts its
   map on the object whose evidence drives the similarity.
2. Weight transfer (channel weights of the nearest training cluster) reproduces the back-propagated
   ML Grad-CAM closely.
3. Weight transfer is faster than back-propagated ML Grad-CAM: it needs no backward pass.
4. A better embedding (higher Recall@1) gets better explanations.

Evidence: claims 1, 2 and 4 are rows of the comparison table (paired Wilcoxon, Holm over the whole
family, :mod:`.ml_gradcam_tables`); claim 4 compares the same method on the same images under the
table's model and the checkpoint with the lowest Recall@1 (:func:`cross_model_records`). Claim 3
uses the per-round times of ``scripts/bench_weight_transfer.py`` (paired by round, Wilcoxon, Holm
over the batch sizes). A row's verdict maps to "holds" / "does not hold" / "inconclusive"
(:data:`CLAIMS`); a claim holds when all its rows hold, does not hold when any row does not, and
is inconclusive otherwise or when a row was not measured.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

__all__ = ["CLAIMS", "CROSS_MODEL_SPECS", "Claim", "claims_markdown", "cross_model_records", "decide_claims",
           "speed_rows"]

HOLDS, FAILS, UNDECIDED = "holds", "does not hold", "inconclusive"
_GC = "mlgradcam[n_triplets=50,top_k=50]"
#: methods compared across checkpoints for claim 4: (comparison label, spec).
CROSS_MODEL_SPECS: tuple[tuple[str, str], ...] = (("better model (ML Grad-CAM, N + top-k)", _GC),)
#: the back-propagated path the speed claim is tested against (``bench_weight_transfer.py``'s label).
SPEED_REFERENCE = "bp N=50 top-k"


@dataclass(frozen=True)
class Claim:
    """One claim: its text and the (comparison, metric) rows that decide it.

    ``holds_if`` is the row verdict that supports the claim: "first better" (a significant
    improvement) or "agrees" (equivalence inside the stated margin). Any other significant
    verdict refutes it.
    """

    number: int
    text: str
    evidence: tuple[tuple[str, str], ...]
    holds_if: str


CLAIMS: tuple[Claim, ...] = (
    Claim(1, "ML Grad-CAM localises the object that drives the similarity (better than a random map)",
          (("ML Grad-CAM vs random map", "loc_energy_mask"), ("ML Grad-CAM vs random map", "deletion_auc")),
          "first better"),
    Claim(2, "weight transfer reproduces back-propagated ML Grad-CAM closely (equivalent within the margin)",
          tuple((f"transfer keeps quality ({r})", m) for r in ("Grad-CAM", "Grad-CAM++")
                for m in ("loc_energy_mask", "deletion_auc")),
          "agrees"),
    Claim(3, "weight transfer is faster than back-propagated ML Grad-CAM (no backward pass)", (), "first better"),
    Claim(4, "a better embedding (higher Recall@1) gets better explanations",
          tuple((label, m) for label, _ in CROSS_MODEL_SPECS for m in ("loc_energy_mask", "deletion_auc")),
          "first better"),
)


def cross_model_records(runs: list[dict[str, Any]]):  # noqa: ANN201  -> (DataFrame | None, comparisons)
    """Records and comparisons of claim 4: the first run's model against the one of lowest Recall@1.

    Args:
        runs: dicts with "model", "recall@1" and "records" (the first is the table's model).

    Returns:
        (records with methods renamed ``"<spec> @ <model>"``, ((label, first, second), ...)), or
        (None, ()) with fewer than two runs.
    """
    import pandas as pd

    if len(runs) < 2:
        return None, ()
    strong = runs[0]
    weak = min(runs[1:], key=lambda r: r["recall@1"])
    parts, comparisons = [], []
    for label, spec in CROSS_MODEL_SPECS:
        names = []
        for run in (strong, weak):
            rec = run["records"]
            parts.append(rec[rec["method"] == spec].assign(method=f"{spec} @ {run['model']}"))
            names.append(f"{spec} @ {run['model']}")
        comparisons.append((label, names[0], names[1]))
    return pd.concat(parts, ignore_index=True), tuple(comparisons)


def _row_status(verdict: str, holds_if: str) -> str:
    if verdict.startswith(holds_if):
        return HOLDS
    return FAILS if verdict in ("first better", "second better") else UNDECIDED


def _combine(statuses: list[str]) -> str:
    if not statuses or UNDECIDED in statuses and FAILS not in statuses:
        return UNDECIDED
    return FAILS if FAILS in statuses else HOLDS


def speed_rows(bench: dict[str, Any] | None, *, model: str, alpha: float = 0.05) -> list[dict[str, Any]]:
    """Claim 3's rows from a benchmark JSON: per batch size, transfer vs :data:`SPEED_REFERENCE`.

    Per round the two paths were timed side by side; the test is the paired Wilcoxon over rounds,
    Holm over the batch sizes. Rows: batch, ratios (medians and quartiles over rounds), p, p_holm,
    status. A benchmark of another model gives no rows.
    """
    from attrbench.stats import holm, paired_wilcoxon

    if not bench or bench.get("model") != model:
        return []
    rows = []
    for batch, times in bench["times"].items():
        transfer, reference, forward = (times[k] for k in ("transfer", SPEED_REFERENCE, "forward"))
        if len(transfer) < 2:  # quartiles and a test need at least two rounds
            continue
        ratio = [t / r for t, r in zip(transfer, reference)]
        per_forward = [t / f for t, f in zip(transfer, forward)]
        rows.append({"batch": int(batch), "ratio": statistics.median(ratio),
                     "ratio_q": statistics.quantiles(ratio, n=4)[::2],
                     "per_forward": statistics.median(per_forward),
                     "per_forward_q": statistics.quantiles(per_forward, n=4)[::2],
                     "p": paired_wilcoxon(transfer, reference), "rounds": len(ratio)})
    for row, p_holm in zip(rows, holm([r["p"] for r in rows])):
        significant = p_holm < alpha
        row["p_holm"] = float(p_holm)
        row["status"] = UNDECIDED if not significant else HOLDS if row["ratio"] < 1 else FAILS
    return rows


def decide_claims(comp, *, speed: list[dict[str, Any]]) -> list[dict[str, Any]]:  # noqa: ANN001
    """One dict per claim: number, text, evidence (a line of our numbers), status."""
    fmt = {"loc_energy_mask": "energy in mask", "deletion_auc": "deletion AUC"}
    out = []
    for claim in CLAIMS:
        statuses, parts = [], []
        if claim.number == 3:
            for r in speed:
                statuses.append(r["status"])
                parts.append(f"batch {r['batch']}: transfer / back-propagated {r['ratio']:.2f}x "
                             f"[{r['ratio_q'][0]:.2f}, {r['ratio_q'][1]:.2f}], transfer / one forward "
                             f"{r['per_forward']:.2f}x [{r['per_forward_q'][0]:.2f}, {r['per_forward_q'][1]:.2f}] "
                             f"(median [quartiles] of {r['rounds']} rounds, p (Holm) {r['p_holm']:.2g})")
            if not speed:
                parts.append("not measured for this model (run scripts/bench_weight_transfer.py)")
        for label, metric in claim.evidence:
            hit = comp[(comp["comparison"] == label) & (comp["metric"] == metric)] if len(comp) else comp
            if hit.empty:
                statuses.append(UNDECIDED)
                parts.append(f"{label}, {fmt[metric]}: not measured")
                continue
            r = hit.iloc[0]
            statuses.append(_row_status(r["verdict"], claim.holds_if))
            parts.append(f"{label}, {fmt[metric]}: {r['mean_diff']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] "
                         f"(p (Holm) {r['p_holm']:.2g}, {r['verdict']})")
        out.append({"number": claim.number, "text": claim.text, "evidence": "; ".join(parts),
                    "status": _combine(statuses)})
    return out


def claims_markdown(claims: list[dict[str, Any]]) -> str:
    """The claims table: one line per claim with our numbers and the decided status."""
    lines = ["| # | claim (our words) | our numbers (difference first - second [95 % interval]) | status |",
             "|---|---|---|---|"]
    lines += [f"| {c['number']} | {c['text']} | {c['evidence']} | **{c['status']}** |" for c in claims]
    return "\n".join(lines) + "\n"
