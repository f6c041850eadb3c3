"""The leaderboard's derived tables: tied-with-best groups, ceilings per family, meta-evaluation.

* **Tied with the best** (:func:`tied_tables`): per (model, metric) the methods not significantly
  different from the best (two-sided paired Wilcoxon signed-rank tests against the best, Holm-corrected,
  :func:`attrbench.stats.tied_with_best`); reference rows (registered references and the run's
  declared ones, :mod:`attrbench.references`) are shown but never marked.
* **Ceilings** (:func:`family_ceilings`): the best ``gt_spearman`` / ``cellgt_spearman`` a perfect map
  of each family (pixel maps, patch-grid maps) reaches after the scoring rule
  (:mod:`attrbench.ceilings`), averaged over a few of the run's images.
* **Meta-evaluation** (:func:`meta_evaluation`): per model and proxy metric (deletion with each
  fill, insertion, ROAD, patch deletion, localisation, MPRT, random logit), Kendall's tau between
  the proxy's ranking of the methods and the cell-truth ranking (``cellgt_spearman``), with a
  seeded percentile bootstrap interval over images (images resampled with replacement, both
  rankings recomputed from the resampled means; Kendall, Biometrika 1938; Efron & Tibshirani 1993).
  Normalised AUCs rank the methods by their raw AUCs (:func:`attrbench.raw_ranking.ranked_on_raw`: the
  per-image normalisation explodes where the fill scores like the image; the order is that of the
  ratio-of-means normalisation).
  Each ranking orders methods from best to worst by the metric's declared direction, so tau = 1
  means the proxy orders the methods as the truth does.
* **Fills that do not delete** (:func:`fill_reversals`): per model and curve, the share of images
  whose fill scores at least as high as the image (f(fill) >= f(x), read from the stored curves'
  end points), where the per-image normalised AUC flips its direction or explodes; the reason
  normalised AUCs are ranked on their raw AUCs.
* **Ranking stability across model seeds** (:func:`seed_stability`, issue 11): per metric and pair
  of seeds of the default model (:data:`SEED_MODELS`), Kendall's tau between the two models'
  rankings of the (non-reference) methods, each ranking by the same rule (mean over the model's
  images, ordered by the metric's declared direction), over the methods both models scored
  (normalised AUCs by their raw AUCs, as above).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import torch

from attrbench.raw_ranking import end_points, ranked_on_raw

__all__ = [
    "PROXY_PREFIXES", "SEED_MODELS", "TRUTH_METRIC", "family_ceilings", "fill_reversals", "markdown_table",
    "meta_evaluation",
    "sample_batch", "seed_stability", "seed_stability_lines",
]  # fmt: skip

#: the truth the proxies are judged against.
TRUTH_METRIC = "cellgt_spearman"
#: metric-name prefixes of the proxies (every recorded metric starting with one is a proxy).
PROXY_PREFIXES: tuple[str, ...] = (
    "deletion_auc", "insertion_auc", "road_morf", "road_lerf", "patch_deletion", "loc_", "mprt_spearman",
    "random_logit_spearman",
)  # fmt: skip


#: the default model trained with seeds 0, 1 and 2 (checkpoint names; issue 11).
SEED_MODELS: tuple[str, ...] = ("bagnet17-synthbirds", "bagnet17-synthbirds-s1", "bagnet17-synthbirds-s2")
#: metrics left out of the seed-stability table: costs, and reference levels or copies that are not
#: scores of their own (chance levels, MPRT's random-vs-random floor, raw AUCs, which rank as the
#: normalised AUC they accompany: :func:`attrbench.raw_ranking.ranked_on_raw`).
_NOT_RANKED: re.Pattern[str] = re.compile(r"runtime_s$|_chance|_raw|mprt_floor_")


def _is_proxy(metric: str) -> bool:
    return metric.startswith(PROXY_PREFIXES) and "_raw" not in metric


def _kendall(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import kendalltau

    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(kendalltau(a, b).statistic)


def meta_evaluation(records: pd.DataFrame, *, reference: Iterable[str] = (), truth: str = TRUTH_METRIC,
                    resamples: int = 1000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """Kendall tau of each proxy's method ranking with the truth's, per model (module docstring).

    Long: one pass per (model, proxy) that aligns images, bootstraps and ranks.

    Args:
        records: long-format records (model, method, metric, sample_id, value, status, higher_is_better).
        reference: methods left out of both rankings.

    Returns:
        columns model, proxy, tau, ci_low, ci_high, n_methods, n_images (one row per model x proxy).
    """
    records = ranked_on_raw(records)
    ok = records[(records["status"] == "ok") & np.isfinite(records["value"].astype(float))]
    ok = ok[~ok["method"].isin(set(reference))]
    rows = []
    rng = np.random.default_rng([int(seed), 0x7A0])
    for model, group in ok.groupby("model", sort=False):
        wide = group.pivot_table(index="sample_id", columns=["metric", "method"], values="value", aggfunc="mean")
        if truth not in wide.columns.get_level_values(0):
            continue
        directions = group.groupby("metric")["higher_is_better"].first()
        t = wide[truth]
        for proxy in [m for m in dict.fromkeys(group["metric"]) if _is_proxy(m)]:
            p = wide[proxy]
            methods = [m for m in t.columns if m in p.columns]
            both = pd.concat([t[methods], p[methods]], axis=1).dropna()
            if len(methods) < 2 or len(both) < 2:
                continue
            sign = 1.0 if bool(directions[proxy]) else -1.0
            tv, pv = both.iloc[:, : len(methods)].to_numpy(), sign * both.iloc[:, len(methods) :].to_numpy()
            tau = _kendall(tv.mean(0), pv.mean(0))
            idx = rng.integers(0, len(both), size=(resamples, len(both)))
            boot = np.array([_kendall(tv[i].mean(0), pv[i].mean(0)) for i in idx])
            boot = boot[np.isfinite(boot)]
            lo, hi = (np.quantile(boot, [(1 - level) / 2, (1 + level) / 2]) if boot.size else (np.nan, np.nan))
            rows.append({"model": model, "proxy": proxy, "tau": tau, "ci_low": float(lo), "ci_high": float(hi),
                         "n_methods": len(methods), "n_images": len(both)})  # fmt: skip
    return pd.DataFrame(rows, columns=["model", "proxy", "tau", "ci_low", "ci_high", "n_methods", "n_images"])


def fill_reversals(curves: pd.DataFrame) -> pd.DataFrame:
    """Per model and deletion / insertion curve: how often f(fill) >= f(x) (module docstring).

    A deletion curve starts at f(x) and ends at f(fill); an insertion curve the other way round.
    f(x) and f(fill) do not depend on the method, so each image is counted once (first method).

    Args:
        curves: long-format curves (model, method, curve, sample_id, step, score).

    Returns:
        columns model, curve, n_images, share_fill_not_lower, median_drop (median f(x) - f(fill)).
    """
    ends = end_points(curves[curves["curve"].str.startswith(("deletion", "insertion"))])
    rows = []
    for (model, curve), group in ends.groupby(["model", "curve"], sort=False):
        drop = (group["f_x"] - group["f_fill"])[group["method"] == group["method"].iloc[0]]
        rows.append({"model": model, "curve": curve, "n_images": len(drop),
                     "share_fill_not_lower": float((drop <= 0).mean()), "median_drop": float(drop.median())})
    return pd.DataFrame(rows, columns=["model", "curve", "n_images", "share_fill_not_lower", "median_drop"])


def family_ceilings(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
                    permutations: int = 64, seed: int = 0) -> dict[str, float]:  # fmt: skip
    """Mean ceiling of ``gt_spearman`` and ``cellgt_spearman`` per map family on a BagNet.

    Args:
        model: a BagNet :class:`~attrbench.models.common.ImageModel`.
        images: (B, 3, H, W); labels: (B,) explained classes.
        permutations: sampled orders of the cell truth where it is not exact (q = 33).

    Returns:
        ``"<scoring> truth, <family> maps"`` -> mean ceiling over the images.
    """
    from attrbench.ceilings import ceiling
    from attrbench.cell_truth import cell_truth
    from attrbench.ground_truth import patch_truth, receptive_field_of

    rf = receptive_field_of(model)
    size = tuple(images.shape[-2:])
    with torch.no_grad():
        g = patch_truth(model, images, labels=labels, baseline=None)
    cells = cell_truth(model, images, labels=labels, baseline=0.0, permutations=permutations, seed=seed)
    out = {}
    for family in ("patch", "pixel"):
        patch = ceiling(g, scoring="patch", family=family, rf=rf, size=size)  # type: ignore[arg-type]
        out[f"patch truth (gt_spearman), {family} maps"] = float(np.nanmean(patch["gt_spearman"].cpu().numpy()))
        cell = ceiling(cells.values, scoring="cell", family=family, rf=rf, size=size, keep=cells.covered)  # type: ignore[arg-type]
        out[f"cell truth (cellgt_spearman), {family} maps"] = float(np.nanmean(cell["cellgt_spearman"].cpu().numpy()))
    return out


def markdown_table(frame: pd.DataFrame, *, digits: int = 3) -> list[str]:
    """A plain GitHub markdown table of ``frame`` (floats rounded)."""
    cols = list(frame.columns)
    fmt = lambda v: f"{v:.{digits}f}" if isinstance(v, float) else str(v)  # noqa: E731
    return ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols),
            *("| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False))]  # fmt: skip


def sample_batch(dataset: object, ids: Sequence[str], *, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (B, 3, H, W), labels (B,)) of the dataset items with ``ids``."""
    from attrbench.sampling import indices_of

    items = [dataset[i] for i in indices_of(dataset, ids)]  # type: ignore[index]
    return torch.stack([s.image for s in items]).to(dtype), torch.tensor([int(s.label) for s in items])


def seed_stability(records: pd.DataFrame, *, models: Sequence[str] = SEED_MODELS,
                   reference: Iterable[str] = ()) -> pd.DataFrame:  # fmt: skip
    """Kendall tau between the method rankings of each pair of ``models`` (seeds), per metric.

    Args:
        records: long-format records (model, method, metric, value, status, higher_is_better).
        models: the seed models, in seed order; pairs of those present in ``records`` are compared.
        reference: methods left out of the rankings (as in the tables).

    Returns:
        columns metric, model_a, model_b, tau, n_methods (one row per metric x pair; tau is NaN
        when fewer than two common methods or a constant ranking).
    """
    records = ranked_on_raw(records)
    ok = records[(records["status"] == "ok") & np.isfinite(records["value"].astype(float))]
    ranked = ~ok["metric"].map(lambda m: bool(_NOT_RANKED.search(m)))
    ok = ok[~ok["method"].isin(set(reference)) & ranked]
    means = ok.groupby(["metric", "model", "method"])["value"].mean()
    directions = ok.groupby("metric")["higher_is_better"].first()
    present = [m for m in models if m in set(ok["model"])]
    rows = []
    for metric in dict.fromkeys(ok["metric"]):
        sign = 1.0 if bool(directions[metric]) else -1.0
        for i, a in enumerate(present):
            for b in present[i + 1 :]:
                if (metric, a) not in means.index or (metric, b) not in means.index:
                    continue
                ma, mb = means.loc[(metric, a)], means.loc[(metric, b)]
                common = [m for m in ma.index if m in mb.index]
                tau = _kendall(sign * ma[common].to_numpy(), sign * mb[common].to_numpy())
                rows.append({"metric": metric, "model_a": a, "model_b": b, "tau": tau, "n_methods": len(common)})
    return pd.DataFrame(rows, columns=["metric", "model_a", "model_b", "tau", "n_methods"])


def seed_stability_lines(dataset: str, seeds: pd.DataFrame | None) -> list[str]:
    """README section: Kendall tau between the method rankings of the default model's seeds."""
    if seeds is None or not len(seeds):
        return []
    wide = seeds.assign(pair=seeds["model_a"] + " / " + seeds["model_b"]).pivot_table(
        index="metric", columns="pair", values="tau", sort=False, dropna=False)  # fmt: skip
    wide.insert(0, "n_methods", seeds.groupby("metric", sort=False)["n_methods"].min())
    return ["", f"## Ranking stability across model seeds ({dataset})", "",
            "Kendall tau between the (non-reference) method rankings of each pair of seeds of the default model, "
            "per metric; each ranking orders the methods by their mean over the model's images in the metric's "
            "direction, as the tables do (1 = same order):", "",
            *markdown_table(wide.reset_index())]  # fmt: skip
