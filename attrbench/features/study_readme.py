"""The README of results/features/, written by ``attrbench experiment features`` from its tables
(never by hand): the location-instability comparison per model and layer with a verdict per model
decided by the interval of the paired difference (Zhang et al., AAAI 2018, arXiv 1708.01785), the
occlusion-sensitivity summary (Zeiler & Fergus, ECCV 2014, arXiv 1311.2901, Fig. 7) and what each
figure in the folder shows.

Every number comes from the tables passed in; the reasons given where the graph is not lower are
chosen by the same numbers and by the options of the run (see :func:`possible_reasons`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from attrbench.features.graph_study import POSITION_SOURCES
from attrbench.features.tables import interval

__all__ = ["figure_lines", "instability_section", "occlusion_section", "possible_reasons", "write_readme"]

GRAPH, PEAKS, RANDOM = POSITION_SOURCES

#: what each kind of file in a model's folder shows, by file-name prefix.
FIGURES: dict[str, str] = {
    "patterns-": "the strongest patterns of the layer (explanatory-graph nodes): per pattern its top-ranked image "
    "patches around the inferred position and its heat map R_d G_V on its best image (Zhang et al.'s Figs. of "
    "top-ranked patches and pattern heat maps)",
    "deconvnet-": "deconvnet projections of the top-9 activations over the test images of the layer's six "
    "strongest channels, each above its image patch cropped to the unit's receptive field (Zeiler & Fergus, Fig. 2)",
    "top9-": "the table of those top-9 activations (channel, rank, image, unit, value, box)",
    "occlusion-": "a test image with the grey square, the class probability and the strongest feature map's total "
    "activation as maps over the square's position, and the predicted class map (Zeiler & Fergus, Fig. 7 b, d, e)",
}


def _find(rows: Sequence[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    hits = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    return hits[0] if hits else None


def _num(v: float) -> str:
    return f"{v:.3f}" if math.isfinite(v) else "n/a"


def _cell(row: dict[str, Any] | None, key: str = "instability") -> str:
    return "n/a" if row is None else interval(row[key], row["ci_low"], row["ci_high"])


def instability_section(instability: Sequence[dict[str, Any]], difference: Sequence[dict[str, Any]]) -> list[str]:
    """The table per model and layer: the three sources, graph - peaks with its interval, the verdict."""
    lines = [
        f"| model | layer | {GRAPH} | {PEAKS} | {RANDOM} | graph - peaks [95 % CI] | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in (r for r in difference if r["versus"] == PEAKS):
        cells = [_cell(_find(instability, model=d["model"], layer=d["layer"], positions=s)) for s in POSITION_SOURCES]
        lines.append(f"| {d['model']} | {d['layer']} | {' | '.join(cells)} | {_cell(d, 'difference')} "
                     f"| {d['verdict']} |")  # fmt: skip
    return lines


def possible_reasons(model: str, difference: Sequence[dict[str, Any]], options: dict[str, Any]) -> list[str]:
    """Reasons that may explain a graph that is not lower than the raw peaks, each backed by a number
    of the run or by one of its options (the paper's settings: docs/features.md)."""
    reasons = []
    rand = _find(difference, model=model, versus=RANDOM, layer="all")
    if rand is not None and rand["verdict"] != "lower":
        reasons.append(f"the nodes are not shown closer to the landmarks than random positions either (graph - random "
                       f"{_cell(rand, 'difference')}): the mined patterns do not track these landmarks")  # fmt: skip
    if options.get("crop", "none") == "none":
        reasons.append("whole scenes, not bird crops: the bird moves within the scene, so the top layer's absolute "
                       "anchors, and the nodes linked below them by fixed offsets, are drawn to places rather than "
                       "parts; the paper measures bird crops (`--crop bbox`)")  # fmt: skip
    reasons.append(f"a smaller graph than the paper's: {options.get('patterns')} patterns per filter, "
                   f"{options.get('iterations')} EM iterations, mined on {options.get('mine_images')} images "
                   "(the paper: 40 / 20 patterns per filter, 20 iterations, CUB)")  # fmt: skip
    layers = [r for r in difference if r["model"] == model and r["versus"] == PEAKS and r["layer"] != "all"]
    by = {v: [r["layer"] for r in layers if r["verdict"] == v] for v in ("lower", "not lower", "inconclusive")}
    reasons.append("per layer: " + "; ".join(f"{v} in {', '.join(names)}" for v, names in by.items() if names))
    peak = _find(difference, model=model, versus=PEAKS, layer="all")
    if peak is not None and peak["verdict"] == "inconclusive":
        reasons.append(f"the interval contains 0 with {peak['images']} test images; more (`--test-images`) narrow it")
    return reasons


def verdict_lines(difference: Sequence[dict[str, Any]], options: dict[str, Any]) -> list[str]:
    """One line per model: its verdict over all layers, with the possible reasons where it is not lower."""
    lines = []
    for d in (r for r in difference if r["versus"] == PEAKS and r["layer"] == "all"):
        lines.append(f"- **{d['model']}: {d['verdict']}** (graph - peaks {_cell(d, 'difference')})")
        if d["verdict"] != "lower":
            lines += [f"  - possible reason: {r}" for r in possible_reasons(d["model"], difference, options)]
    return lines


def occlusion_section(occlusion: Sequence[dict[str, Any]]) -> list[str]:
    """The occlusion summary per model (:func:`attrbench.features.occlusion_sensitivity.on_object_summary`)."""
    lines = [
        "| model | images | worst square on the bird [95 % Wilson CI] | squares on the bird (chance) "
        "| probability drop, square on the bird | off the bird |",
        "|---|---|---|---|---|---|",
    ]
    for r in occlusion:
        if r["images"] == 0:
            lines.append(f"| {r['model']} | 0 | n/a (no boxes, or images cropped to the box) | | | |")
            continue
        lines.append(f"| {r['model']} | {r['images']} | {_cell(r, 'worst_on')} | {_num(r['on_share'])} "
                     f"| {_num(r['drop_on'])} | {_num(r['drop_off'])} |")  # fmt: skip
    return lines


def figure_lines(out: Path, models: Sequence[str]) -> list[str]:
    """The figures and tables found in each model's folder, each with what it shows."""
    lines = []
    for model in models:
        files = sorted(p.name for p in (out / model).iterdir()) if (out / model).is_dir() else []
        lines.append(f"- `{model}/`:")
        for prefix, what in FIGURES.items():
            names = [f for f in files if f.startswith(prefix)]
            if names:
                lines.append(f"  - {', '.join(f'`{n}`' for n in names)}: {what}.")
    return lines


def _timing(timings: dict[str, float]) -> str:
    total = sum(timings.values())
    per = ", ".join(f"{m} {s:.0f} s" for m, s in timings.items())
    return f"Run time {total:.0f} s ({per}; `timings.json`, on the machine that ran it)."


def write_readme(
    out: str | Path, *, tables: dict[str, list[dict[str, Any]]], command: str, timings: dict[str, float],
    options: dict[str, Any],
) -> Path:  # fmt: skip
    """Write ``out/README.md`` from the study's tables (``instability``, ``difference``, ``occlusion``)."""
    out = Path(out)
    inst, diff = tables["instability"], tables["difference"]
    first = inst[0] if inst else {}
    lines = [
        "# Inside the networks: explanatory graph, deconvnet, occlusion sensitivity",
        "",
        "Generated by the command below from the tables of this folder; do not edit by hand (docs/features.md).",
        "",
        f"    {command}",
        "",
        _timing(timings),
        "",
        "## Location instability: explanatory-graph nodes vs raw-filter peaks",
        "",
        "Zhang et al. (AAAI 2018): a part pattern is good when its inferred position keeps the same distance to",
        "an annotated landmark across its top images; location instability is the spread of that distance",
        "divided by the image diagonal (lower is better). The graph's nodes are compared with raw-filter peaks",
        "(each filter's strongest unit) and with random positions (no localisation). "
        f"{first.get('images', 0)} test images, landmarks {first.get('landmarks', '')}, "
        f"the top {first.get('top_images', '')} images per pattern, the strongest "
        f"{100 * float(first.get('pattern_fraction', math.nan)):.0f} % of the patterns per layer; "
        "layer `all` is the mean over layers "
        "(the paper's number). Intervals: 95 % half-sampling over images "
        f"({options.get('resamples')} random halves without replacement, centred on the value; docs/features.md "
        "says why not the bootstrap); graph - peaks is the paired difference on the same halves. "
        "Verdict: lower if its interval lies below 0, not lower if above 0, inconclusive if it holds 0.",
        "",
        *instability_section(inst, diff),
        "",
        "Verdict per model (all layers):",
        "",
        *verdict_lines(diff, options),
        "",
        "Tables: `location_instability.csv` / `.md`, `location_instability_difference.csv` (also graph - random);",
        "bars: `location_instability.png` (layer all, per model and source, with intervals). The mined graphs:",
        "`graphs/<model>.pt` (`attrbench explanatory-graph infer|draw|instability --graph ...`).",
        "",
        "## Occlusion sensitivity (Zeiler & Fergus, Fig. 7)",
        "",
        "Zeiler & Fergus report that the probability of the correct class drops sharply when the grey square",
        "covers the object. Tested here per image on the first test images: is the square position with the",
        "lowest class probability on the bird's box (square centre inside the box)? The chance level is the",
        "share of square positions on the bird; the drops are the unoccluded probability minus the mean",
        "probability over the positions on / off the bird (`occlusion_sensitivity.csv`).",
        "",
        *occlusion_section(tables["occlusion"]),
        "",
        "## Figures",
        "",
        *figure_lines(out, [r["model"] for r in tables["occlusion"]]),
    ]
    path = out / "README.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

