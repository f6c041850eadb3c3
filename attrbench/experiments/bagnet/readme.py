"""``results/bagnet/README.md``: the paper's claims point by point, our numbers beside them, from the tables.

Everything here reads the CSV tables the bagnet-* experiments wrote under one root folder
(``results/bagnet`` by default) and the paper's constants (:mod:`.paper`); nothing is typed in
by hand. One row per claim: the claim in our words, the paper's number, ours with its 95 %
interval (``[low, high]``, from the tables), the verdict "holds" / "does not hold" / "inconclusive"
by the rule stated in the row (:attr:`attrbench.experiments.bagnet.paper.Claim.rule`), and a reason
where it does not hold or is inconclusive, built from the tables too (model accuracies, the BagNets'
interior share under scrambling, the image size). A claim whose experiment has not been run, or
was skipped (its folder's ``notes.txt``), is listed as "not run". "VGG-like" network: a comparison
network whose name contains "vgg" (all comparison networks when none does).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from attrbench.experiments.bagnet.paper import CLAIMS, PAPER_IMAGE_SIZE, VGG_INTERACTION_DISTANCE_PX
from attrbench.stats import wilson_ci

__all__ = ["build_readme"]

#: |1 - r| below this is float32 noise: the BagNets' r must be within it, the comparison networks' beyond it.
ADDITIVE_TOLERANCE = 1e-6

Verdict = tuple[str, str, str]  # (our number, verdict, reason)
HOLDS, FAILS, OPEN = "holds", "does not hold", "inconclusive"


def _read(root: Path, rel: str) -> pd.DataFrame | None:
    path = root / rel
    skipped = (path.parent / "notes.txt").is_file() and "skipped:" in (path.parent / "notes.txt").read_text("utf-8")
    return pd.read_csv(path) if path.is_file() and not skipped else None


def _ci(value: float, low: float, high: float, digits: int = 2) -> str:
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _vgg_like(names: list[str]) -> list[str]:
    return [n for n in names if "vgg" in n.lower()] or names


def _accuracies(root: Path) -> str:
    """"top-1: model a, model b, ..." on the unscrambled sample (for reasons), or ""."""
    t = _read(root, "scrambling/scrambling.csv")
    if t is None:
        return ""
    t = t[t["tile (px)"].astype(str) == "none"]
    return "top-1 " + ", ".join(f"{r['model']} {r['top-1']:.2f}" for _, r in t.iterrows())


def _logit(root: Path) -> Verdict | None:
    t = _read(root, "logit_correlation/logit_correlation.csv")
    if t is None or t.empty:
        return None
    parts, verdict = [], HOLDS
    for m in _vgg_like(list(dict.fromkeys(t["comparison"]))):
        g = t[t["comparison"] == m].sort_values("q")
        parts.append(f"{m}: " + " / ".join(f"{r['bagnet']} {_ci(r['pearson (pooled)'], r['pooled ci low'], r['pooled ci high'])}"
                                           for _, r in g.iterrows()))  # fmt: skip
        rows = g.to_dict("records")
        for i, a in enumerate(rows):
            for b in rows[i + 1 :]:  # b has the larger q
                if b["pearson (pooled)"] < a["pearson (pooled)"]:
                    verdict = FAILS if b["pooled ci high"] < a["pooled ci low"] else (OPEN if verdict == HOLDS else verdict)
    reason = "" if verdict == HOLDS else f"BagNet accuracies differ from the paper's ranking: {_accuracies(root)}"
    return "; ".join(parts), verdict, reason


def _scrambling_share(t: pd.DataFrame, model: str, chance: float) -> tuple[float, str]:
    g = t[t["model"] == model]
    base = float(g[g["tile (px)"] == "none"]["top-1"].iloc[0])
    tiles = sorted(int(v) for v in g["tile (px)"] if v != "none")
    r = g[g["tile (px)"] == str(tiles[len(tiles) // 2])].iloc[0]
    share = (float(r["top-1"]) - chance) / (base - chance) if base > chance else float("nan")
    return share, f"{model}: top-1 {base:.2f} -> {_ci(r['top-1'], r['top-1 ci low'], r['top-1 ci high'])} at t = {r['tile (px)']} px"


def _scrambling(root: Path) -> tuple[Verdict, Verdict, Verdict] | None:
    t = _read(root, "scrambling/scrambling.csv")
    if t is None:
        return None
    t["tile (px)"] = t["tile (px)"].astype(str)
    chance = 1.0 / _n_classes(root) if _n_classes(root) else 0.0
    comparison = [m for m in dict.fromkeys(t["model"]) if not t[t["model"] == m]["bagnet interior share"].notna().any()]
    bagnet = _scrambling_bagnet(t)
    if not comparison:
        return ("", OPEN, "no comparison network (notes.txt)"), ("", OPEN, "no comparison network"), bagnet
    vgg = _vgg_like(comparison)
    shares = {m: _scrambling_share(t, m, chance) for m in comparison}
    v_share = min(shares[m][0] for m in vgg)
    if v_share != v_share:  # NaN: the network is at chance on the original images
        return ("; ".join(shares[m][1] for m in vgg), OPEN, "at chance on the original images"), ("", OPEN, ""), bagnet
    first = ("; ".join(shares[m][1] + f" (keeps {shares[m][0]:.0%} above chance)" for m in vgg),
             HOLDS if v_share >= 0.5 else FAILS, "" if v_share >= 0.5 else "our images are small (tiles cut the "
             "bird into pieces larger than the network's texture scale)")  # fmt: skip
    others = [m for m in comparison if m not in vgg]
    if not others:
        return first, ("", OPEN, "only one kind of comparison network"), bagnet
    deeper = all(shares[m][0] < v_share for m in others)
    second = ("; ".join(shares[m][1] + f" (keeps {shares[m][0]:.0%})" for m in others), HOLDS if deeper else FAILS,
              "" if deeper else "our ResNet is not deeper than our VGG (both small networks)")  # fmt: skip
    return first, second, bagnet


def _scrambling_bagnet(t: pd.DataFrame) -> Verdict:
    rows = t[t["aligned t >= q"].astype(bool)]
    if rows.empty:
        return "", OPEN, "no tile side that is a multiple of the stride and >= q (--tiles)"
    parts, broken = [], []
    for _, r in rows.iterrows():
        base = t[(t["model"] == r["model"]) & (t["tile (px)"] == "none")].iloc[0]
        inside = base["top-1 ci low"] <= r["top-1"] <= base["top-1 ci high"]
        parts.append(f"{r['model']} t = {r['tile (px)']}: {base['top-1']:.2f} -> "
                     f"{_ci(r['top-1'], r['top-1 ci low'], r['top-1 ci high'])}")  # fmt: skip
        if not inside:
            broken.append(f"{r['model']} at t = {r['tile (px)']}: only {r['bagnet interior share']:.0%} of the patch "
                          "positions lie inside one tile")  # fmt: skip
    reason = "border effects: " + "; ".join(broken) if broken else ""
    return "; ".join(parts), FAILS if broken else HOLDS, reason


def _n_classes(root: Path) -> int:
    e = _read(root, "errors/per_class_accuracy.csv")
    p = _read(root, "predictive_patches/predictive_patches.csv")
    return len(e) if e is not None else int(p["classes"].iloc[0]) if p is not None and "classes" in p else 0


def _interaction(root: Path) -> tuple[Verdict, Verdict, Verdict] | None:
    t = _read(root, "interaction/interaction.csv")
    sc = _read(root, "scrambling/scrambling.csv")
    if t is None:
        return None
    bagnets = [m for m in dict.fromkeys(t["model"]) if m in _bagnet_fields(t)]
    comparison = [m for m in dict.fromkeys(t["model"]) if m not in bagnets]
    distance = _interaction_distance(t, comparison)
    means = {m: float(t[t["model"] == m]["pearson (pooled)"].mean()) for m in comparison}
    depth: Verdict = (", ".join(f"{m}: mean r {v:.3f}" for m, v in means.items()), OPEN, "needs two comparison "
                      "networks and bagnet-scrambling (their accuracies)")  # fmt: skip
    if sc is not None and len(comparison) > 1:
        base = sc[sc["tile (px)"].astype(str) == "none"].set_index("model")
        best = max(comparison, key=lambda m: base.loc[m, "top-1"])
        apart = all(base.loc[m, "top-1 ci high"] < base.loc[best, "top-1 ci low"] for m in comparison if m != best)
        holds = means[best] == min(means.values())
        depth = (depth[0] + "; " + _accuracies(root), OPEN if not apart else HOLDS if holds else FAILS,
                 "" if holds and apart else "accuracy stands in for depth: our comparison networks have similar "
                 "depth" + ("" if apart else "; top-1 intervals overlap"))  # fmt: skip
    return _bagnet_additive(t, bagnets, comparison), distance, depth


def _bagnet_fields(t: pd.DataFrame) -> dict[str, int]:
    """BagNet name -> receptive field r, from the interaction table's ``receptive field`` column."""
    rows = t[t["receptive field"] > 0]
    return {str(m): int(r) for m, r in zip(rows["model"], rows["receptive field"])}


def _interaction_distance(t: pd.DataFrame, comparison: list[str]) -> Verdict:
    if not comparison:
        return "", OPEN, "no comparison network (notes.txt)"
    parts, ok = [], True
    for m in _vgg_like(comparison):
        g = t[(t["model"] == m) & (t["pearson (pooled)"] >= 0.9)].sort_values("q (px)")
        if g.empty:
            parts.append(f"{m}: r < 0.9 at every q (largest q: r = {t[t['model'] == m]['pearson (pooled)'].iloc[-1]:.2f})")
            ok = False
            continue
        r = g.iloc[0]
        scaled = int(r["q (px)"]) * PAPER_IMAGE_SIZE / int(r["image (px)"])
        parts.append(f"{m}: r = {r['pearson (pooled)']:.2f} (per image {_ci(r['pearson per image (mean)'], r['ci low'], r['ci high'])}) "
                     f"from q = {int(r['q (px)'])} px of {int(r['image (px)'])} (= {scaled:.0f} px at {PAPER_IMAGE_SIZE} px)")  # fmt: skip
        ok &= scaled <= 2 * VGG_INTERACTION_DISTANCE_PX
    reason = "" if ok else "our images are small: the objects span a larger share of the image than at 224 px"
    return "; ".join(parts), HOLDS if ok else FAILS, reason


def _bagnet_additive(t: pd.DataFrame, bagnets: list[str], comparison: list[str]) -> Verdict:
    fields = _bagnet_fields(t)
    exact = t[t["model"].isin(bagnets) & (t["q (px)"] >= t["model"].map(fields).fillna(0) - 1)]
    if exact.empty:
        return "", OPEN, "no square side q >= r - 1 (--squares)"
    qs = sorted(set(int(q) for q in exact["q (px)"]))
    worst = float(exact["pearson (pooled)"].min())
    others = t[t["model"].isin(comparison) & t["q (px)"].isin(qs)]
    text = f"BagNets: min r = {worst:.7f} (1 - r = {1 - worst:.1e}) at q >= r - 1"
    if others.empty:
        return text, OPEN, "no comparison network at the same q (notes.txt)"
    top = others.loc[others["pearson (pooled)"].idxmax()]
    top_r = float(top["pearson (pooled)"])
    text += (f"; comparison networks: max r = {top_r:.7f} (1 - r = {1 - top_r:.1e}; {top['model']}, "
             f"q = {int(top['q (px)'])})")  # fmt: skip
    # the comparison networks must stay below 1 by more than float32 noise, the BagNets within it
    holds = worst >= 1 - ADDITIVE_TOLERANCE and top_r < 1 - ADDITIVE_TOLERANCE
    return text, HOLDS if holds else FAILS, "" if holds else "a BagNet is not exactly additive: check its receptive field"


def _errors(root: Path) -> Verdict | None:
    t = _read(root, "errors/error_correlation.csv")
    if t is None or t.empty:
        return None
    r = t.dropna(subset=["pearson of per-class accuracy"])
    if r.empty:
        return "", OPEN, "every pair has a model with the same accuracy on every class"
    low = r.loc[r["pearson of per-class accuracy"].idxmin()]
    text = (f"mean r {r['pearson of per-class accuracy'].mean():.2f} over {len(r)} model pairs; lowest "
            f"{low['model a']} vs {low['model b']} {_ci(low['pearson of per-class accuracy'], low['ci low'], low['ci high'])}")
    holds = r["pearson of per-class accuracy"].mean() >= 0.5 and not (r["ci high"] < 0).any()
    return text, HOLDS if holds else FAILS, "" if holds else f"models of very different accuracy: {_accuracies(root)}"


def _spatial(root: Path) -> tuple[Verdict, Verdict] | None:
    t = _read(root, "spatial_sensitivity/spatial_sensitivity.csv")
    p = _read(root, "spatial_sensitivity/paired.csv")
    if t is None or p is None or t.empty:
        return None
    parts, verdicts = [], []
    for m, g in p.groupby("comparison", sort=False):
        wins = g[g["ci low"] > 0].groupby("bagnet order")["method order"].nunique()
        n_methods = g["method order"].nunique()
        best = g.loc[g["auc difference"].idxmin()]
        parts.append(f"{m}: a BagNet order beats {int(wins.max()) if not wins.empty else 0} of {n_methods} methods "
                     f"(smallest difference {best['auc difference']:.3f} [{best['ci low']:.3f}, {best['ci high']:.3f}] "
                     f"vs {best['method order'].removeprefix('method: ')})")  # fmt: skip
        top = int(wins.max()) if not wins.empty else 0
        verdicts.append(HOLDS if top == n_methods else FAILS if top == 0 else OPEN)
    verdict = HOLDS if set(verdicts) == {HOLDS} else FAILS if set(verdicts) == {FAILS} else OPEN
    reason = "" if verdict == HOLDS else f"white-box methods see the network itself; BagNet accuracy: {_accuracies(root)}"
    rand = t[t["order"] == "random"].set_index("comparison")
    vgg = _vgg_like(list(rand.index))
    text = ", ".join(f"{m} {_ci(r['drop auc'], r['ci low'], r['ci high'], 3)}" for m, r in rand.iterrows())
    if len(vgg) == len(rand):
        return (("; ".join(parts), verdict, reason), (text, OPEN, "no network to compare the VGG-like one with"))
    most = str(rand["drop auc"].idxmax())
    above = any(rand.loc[m, "ci low"] > rand.loc[v, "ci high"] for m in rand.index if m not in vgg for v in vgg)
    v2 = HOLDS if most in vgg else FAILS if above else OPEN
    return ("; ".join(parts), verdict, reason), (text, v2, "" if v2 == HOLDS else "random-order drop AUC of another network is larger")


def _patches(root: Path) -> Verdict | None:
    t = _read(root, "predictive_patches/predictive_patches.csv")
    if t is None or t.empty:
        return None
    parts, holds = [], True
    for _, r in t.iterrows():
        n = int(r["classes"]) * int(r["patches per class"])
        value, low, high = wilson_ci(successes=round(float(r["purity"]) * n), n=n)
        parts.append(f"{r['bagnet']} purity {_ci(value, low, high)}")
        holds &= low > 1.0 / int(r["classes"])
    chance = 1.0 / int(t["classes"].iloc[0])
    return (", ".join(parts) + f" (chance {chance:.2f})", HOLDS if holds else FAILS,
            "" if holds else "the BagNet's top patches come from other classes' images: weak BagNet")  # fmt: skip


STEPS: tuple[tuple[tuple[str, ...], Callable[[Path], object]], ...] = (
    (("logit_correlation",), _logit), (("scrambling_vgg", "scrambling_depth", "scrambling_bagnet"), _scrambling),
    (("bagnet_additive", "interaction_distance", "interaction_depth"), _interaction), (("errors",), _errors),
    (("spatial_bagnet_order", "spatial_vgg"), _spatial), (("patches",), _patches))  # fmt: skip


def _verdicts(root: Path) -> dict[str, Verdict]:
    out: dict[str, Verdict] = {}
    for keys, fn in STEPS:
        got = fn(root)
        if got is not None:
            out.update(dict(zip(keys, (got,) if len(keys) == 1 else got)))  # type: ignore[arg-type]
    return out


def _notes(root: Path) -> list[str]:
    folders = sorted(p for p in root.iterdir() if (p / "notes.txt").is_file()) if root.is_dir() else []
    return [f"- `{f.name}`: " + "; ".join((f / "notes.txt").read_text("utf-8").split("\n")).strip("; ") for f in folders]


def build_readme(root: Path) -> str:
    """The README text for the experiment folders under ``root``."""
    verdicts = _verdicts(root)
    lines = ["# The BagNet paper's experiments on attrbench's models", "",
             "Generated by `attrbench experiment bagnet-all` (`--readme-only` rebuilds it alone) from the tables in "
             "the folders below; the paper's numbers and the verdict rules are constants in "
             "`attrbench/experiments/bagnet/paper.py` (Brendel & Bethge, ICLR 2019, arXiv 1904.00760; ImageNet, "
             "224 px). Intervals: 95 % (bootstrap over images, or Wilson for accuracies). What each experiment "
             "computes: docs/bagnet-experiments.md.", "",
             "| claim (paper) | paper | ours [95 % interval] | verdict | rule | reason |", "|---|---|---|---|---|---|"]  # fmt: skip
    for claim in CLAIMS:
        ours, verdict, reason = verdicts.get(claim.key, ("", "not run", f"run `attrbench experiment {claim.experiment}`"))
        lines.append(f"| {claim.text} | {claim.paper} | {ours} | {verdict} | {claim.rule} | {reason} |")
    notes = _notes(root)
    if notes:
        lines += ["", "## Notes", "", *notes]
    lines += ["", "## Commands", ""]
    for folder in sorted(p for p in root.iterdir() if (p / "command.txt").is_file()) if root.is_dir() else []:
        lines.append(f"- `{folder.name}`: `{(folder / 'command.txt').read_text(encoding='utf-8').strip()}`")
    return "\n".join(lines) + "\n"
