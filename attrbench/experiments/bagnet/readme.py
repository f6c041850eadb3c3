"""``results/bagnet/README.md``: the paper's claims point by point, our numbers beside them, from the tables.

Everything here reads the CSV tables the bagnet-* experiments wrote under one root folder
(``results/bagnet`` by default) and the paper's constants (:mod:`.paper`); nothing is typed in
by hand. A claim whose experiment has not been run is listed as "not run". The verdict rules:

* logit correlation: holds when the pooled correlation with the VGG-like network(s) (model name
  containing "vgg"; all comparison networks when none does) increases with q;
* scrambling (VGG): holds when the VGG-like network keeps at least half of its top-1 accuracy
  above chance at the median tile size; scrambling (depth): holds when every other comparison
  network keeps a smaller share than the VGG-like one;
* interaction distance: the smallest square distance q whose pooled correlation for the VGG-like
  network is >= 0.9 ("barely interact"), scaled to 224 px; holds when it is <= 2 x 30 px;
* interaction depth: holds when the more accurate comparison network has the lower mean correlation;
* BagNet additivity: holds when every BagNet has pooled correlation >= 1 - 1e-6 at every q >= r - 1;
* errors: holds when the mean pairwise correlation of per-class accuracies is >= 0.5;
* spatial (BagNet order): holds when, for every comparison network, some BagNet order beats every
  method order with a paired 95 % interval above 0; "partly" when it beats some;
* spatial (VGG): holds when the VGG-like network has the largest random-order drop AUC;
* patches: the mean purity (qualitative claim; no verdict).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from attrbench.experiments.bagnet.paper import (
    CLAIMS,
    PAPER_IMAGE_SIZE,
    VGG_INTERACTION_DISTANCE_PX,
)

__all__ = ["build_readme"]

Verdict = tuple[str, str, str]  # (our number, verdict, note)


def _read(root: Path, rel: str) -> pd.DataFrame | None:
    path = root / rel
    return pd.read_csv(path) if path.is_file() else None


def _vgg_like(names: list[str]) -> list[str]:
    vgg = [n for n in names if "vgg" in n.lower()]
    return vgg or names


def _logit(root: Path) -> Verdict | None:
    t = _read(root, "logit_correlation/logit_correlation.csv")
    if t is None or t.empty:
        return None
    parts, holds = [], True
    for m in _vgg_like(list(dict.fromkeys(t["comparison"]))):
        g = t[t["comparison"] == m].sort_values("q")
        parts.append(f"{m}: " + " / ".join(f"{r['bagnet']} {r['pearson (pooled)']:.2f}" for _, r in g.iterrows()))
        holds &= bool(g["pearson (pooled)"].is_monotonic_increasing)
    return "; ".join(parts), "holds" if holds else "does not hold", "verdict on the ordering by q, not the values"


def _scrambling_share(t: pd.DataFrame, model: str, chance: float) -> tuple[float, str]:
    g = t[t["model"] == model]
    base = float(g[g["tile (px)"] == "none"]["top-1"].iloc[0])
    tiles = sorted(int(v) for v in g["tile (px)"] if v != "none")
    mid = tiles[len(tiles) // 2]
    acc = float(g[g["tile (px)"] == str(mid)]["top-1"].iloc[0])
    share = (acc - chance) / (base - chance) if base > chance else float("nan")
    return share, f"{model}: top-1 {base:.3f} -> {acc:.3f} at t = {mid} px"


def _scrambling(root: Path) -> tuple[Verdict, Verdict] | None:
    t = _read(root, "scrambling/scrambling.csv")
    lc = _read(root, "logit_correlation/logit_correlation.csv")
    e = _read(root, "errors/per_class_accuracy.csv")
    if t is None or lc is None:
        return None
    t["tile (px)"] = t["tile (px)"].astype(str)
    chance = 1.0 / len(e) if e is not None and len(e) else 0.0
    comparison = list(dict.fromkeys(lc["comparison"]))
    vgg = _vgg_like(comparison)
    shares = {m: _scrambling_share(t, m, chance) for m in comparison}
    v_share = min(shares[m][0] for m in vgg)
    if v_share != v_share:  # NaN: the network is at chance on the original images
        return (("; ".join(shares[m][1] for m in vgg), "not testable", "accuracy at chance on the original images"),
                ("", "not testable", "accuracy at chance on the original images"))
    first = ("; ".join(shares[m][1] + f" (keeps {shares[m][0]:.0%} above chance)" for m in vgg),
             "holds" if v_share >= 0.5 else "does not hold", "top-1 (top-5 is in the table; our data has few classes)")
    others = [m for m in comparison if m not in vgg]
    if not others:
        return first, ("", "not testable", "only one kind of comparison network")
    deeper = all(shares[m][0] < v_share for m in others)
    second = ("; ".join(shares[m][1] + f" (keeps {shares[m][0]:.0%})" for m in others),
              "holds" if deeper else "does not hold", "our ResNet and VGG have similar depth")
    return first, second


def _interaction(root: Path) -> tuple[Verdict, Verdict, Verdict] | None:
    t = _read(root, "interaction/interaction.csv")
    lc = _read(root, "logit_correlation/logit_correlation.csv")
    sc = _read(root, "scrambling/scrambling.csv")
    if t is None or lc is None:
        return None
    comparison, bagnets = list(dict.fromkeys(lc["comparison"])), list(dict.fromkeys(lc["bagnet"]))
    parts, ok = [], True
    for m in _vgg_like(comparison):
        g = t[(t["model"] == m) & (t["pearson (pooled)"] >= 0.9)]
        q = int(g["q (px)"].min()) if not g.empty else None
        if q is None:
            parts.append(f"{m}: r < 0.9 at every q")
            ok = False
        else:
            scaled = q * PAPER_IMAGE_SIZE / int(g["image (px)"].iloc[0])
            parts.append(f"{m}: r >= 0.9 from q = {q} px (= {scaled:.0f} px at {PAPER_IMAGE_SIZE} px)")
            ok &= scaled <= 2 * VGG_INTERACTION_DISTANCE_PX
    distance = ("; ".join(parts), "holds" if ok else "does not hold", "r >= 0.9 taken as 'barely interact'")
    means = {m: float(t[t["model"] == m]["pearson (pooled)"].mean()) for m in comparison}
    depth: Verdict = (", ".join(f"{m}: mean r {v:.3f}" for m, v in means.items()), "not testable", "needs scrambling")
    if sc is not None and len(comparison) > 1:
        sc["tile (px)"] = sc["tile (px)"].astype(str)
        acc = {m: float(sc[(sc["model"] == m) & (sc["tile (px)"] == "none")]["top-1"].iloc[0]) for m in comparison}
        best = max(acc, key=acc.get)
        holds = means[best] == min(means.values())
        depth = (depth[0] + "; top-1 " + ", ".join(f"{m} {a:.3f}" for m, a in acc.items()),
                 "holds" if holds else "does not hold", "accuracy stands in for depth: our two networks have similar depth")
    rows = t[t["model"].isin(bagnets)]
    worst = []
    for b in bagnets:
        r = lc[lc["bagnet"] == b]["q"].iloc[0]
        g = rows[(rows["model"] == b) & (rows["q (px)"] >= r - 1)]
        if not g.empty:
            worst.append(float(g["pearson (pooled)"].min()))
    additive = (f"min r = {min(worst):.7f}" if worst else "", "holds" if worst and min(worst) >= 1 - 1e-6 else
                "not testable" if not worst else "does not hold", "squares at least r - 1 px apart")  # fmt: skip
    return distance, depth, additive


def _errors(root: Path) -> Verdict | None:
    t = _read(root, "errors/error_correlation.csv")
    if t is None or t.empty:
        return None
    r = t["pearson of per-class accuracy"].dropna()
    if r.empty:
        return "", "not testable", "every pair has a model with the same accuracy on every class"
    undefined = len(t) - len(r)
    note = "Pearson of per-class top-1 accuracy" + (
        f"; {undefined} pair(s) undefined (a model with the same accuracy on every class)" if undefined else "")
    return (f"mean r {r.mean():.2f} (min {r.min():.2f}) over {len(r)} model pairs",
            "holds" if r.mean() >= 0.5 else "does not hold", note)


def _spatial(root: Path) -> tuple[Verdict, Verdict] | None:
    t = _read(root, "spatial_sensitivity/spatial_sensitivity.csv")
    p = _read(root, "spatial_sensitivity/paired.csv")
    if t is None or p is None or t.empty:
        return None
    parts, verdicts = [], []
    for m, g in p.groupby("comparison", sort=False):
        wins = g[g["ci low"] > 0].groupby("bagnet order")["method order"].nunique()
        n_methods = g["method order"].nunique()
        best = int(wins.max()) if not wins.empty else 0
        parts.append(f"{m}: a BagNet order beats {best} of {n_methods} methods")
        verdicts.append("holds" if best == n_methods else "partly" if best > 0 else "does not hold")
    verdict = "holds" if set(verdicts) == {"holds"} else "does not hold" if set(verdicts) == {"does not hold"} else "partly"
    rand = t[t["order"] == "random"].set_index("comparison")["drop auc"]
    vgg = _vgg_like(list(rand.index))
    most = str(rand.idxmax()) if not rand.empty else ""
    vgg_claim = (", ".join(f"{m} {v:.3f}" for m, v in rand.items()), "holds" if most in vgg and len(vgg) < len(rand)
                 else "not testable" if len(vgg) == len(rand) else "does not hold", "drop AUC of the random order")  # fmt: skip
    return ("; ".join(parts), verdict, "paired bootstrap 95 % intervals"), vgg_claim


def _patches(root: Path) -> Verdict | None:
    t = _read(root, "predictive_patches/predictive_patches.csv")
    if t is None or t.empty:
        return None
    return (", ".join(f"{r['bagnet']} purity {r['purity']:.2f}" for _, r in t.iterrows()), "qualitative",
            "see the galleries patches_*.png")


def _verdicts(root: Path) -> dict[str, Verdict]:
    out: dict[str, Verdict] = {}
    steps: list[tuple[tuple[str, ...], Callable[[Path], object]]] = [
        (("logit_correlation",), _logit), (("scrambling_vgg", "scrambling_depth"), _scrambling),
        (("interaction_distance", "interaction_depth", "bagnet_additive"), _interaction), (("errors",), _errors),
        (("spatial_bagnet_order", "spatial_vgg"), _spatial), (("patches",), _patches)]  # fmt: skip
    for keys, fn in steps:
        got = fn(root)
        if got is None:
            continue
        values = (got,) if len(keys) == 1 else got
        out.update(dict(zip(keys, values)))  # type: ignore[arg-type]
    return out


def build_readme(root: Path) -> str:
    """The README text for the experiment folders under ``root``."""
    verdicts = _verdicts(root)
    lines = ["# The BagNet paper's experiments on attrbench's models", "",
             "Generated by `attrbench experiment bagnet-all` (`--readme-only` rebuilds it alone) from the tables in the folders below; the paper's numbers are constants in "
             "`attrbench/experiments/bagnet/paper.py` (Brendel & Bethge, ICLR 2019, arXiv 1904.00760; ImageNet, "
             "224 px). What each experiment computes: docs/bagnet-experiments.md.", "",
             "| claim | paper | ours | verdict | note |", "|---|---|---|---|---|"]  # fmt: skip
    for claim in CLAIMS:
        ours, verdict, note = verdicts.get(claim.key, ("", "not run", f"run `attrbench experiment {claim.experiment}`"))
        lines.append(f"| {claim.text} | {claim.paper} | {ours} | {verdict} | {note} |")
    lines += ["", "## Commands", ""]
    for folder in sorted(p for p in root.iterdir() if (p / "command.txt").is_file()) if root.is_dir() else []:
        lines.append(f"- `{folder.name}`: `{(folder / 'command.txt').read_text(encoding='utf-8').strip()}`")
    return "\n".join(lines) + "\n"

