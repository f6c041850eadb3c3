"""The generated README of results/features/: verdicts and reasons chosen from hand-made tables."""

from __future__ import annotations

import math

from attrbench.features.study_readme import write_readme

OPTIONS = {"crop": "none", "patterns": 4, "iterations": 10, "mine_images": 200, "resamples": 200}


def _inst(model: str, layer: str, positions: str, value: float) -> dict:
    return {"model": model, "positions": positions, "layer": layer, "instability": value, "ci_low": value - 0.01,
            "ci_high": value + 0.01, "images": 40, "patterns": "8", "landmarks": "back tail", "top_images": 20,
            "pattern_fraction": 0.3333}  # fmt: skip


def _diff(model: str, layer: str, versus: str, low: float, high: float, verdict: str) -> dict:
    return {"model": model, "versus": versus, "layer": layer, "difference": (low + high) / 2, "ci_low": low,
            "ci_high": high, "verdict": verdict, "images": 40}  # fmt: skip


def _tables() -> dict:
    inst, diff = [], []
    for model in ("good", "bad"):
        for layer in ("all", "l2", "l1"):
            for source, value in (("explanatory graph", 0.1), ("raw filter peaks", 0.2), ("random positions", 0.3)):
                inst.append(_inst(model, layer, source, value))
    diff += [_diff("good", layer, "raw filter peaks", -0.2, -0.1, "lower") for layer in ("all", "l2", "l1")]
    diff += [_diff("good", layer, "random positions", -0.3, -0.2, "lower") for layer in ("all", "l2", "l1")]
    diff += [_diff("bad", "all", "raw filter peaks", -0.05, 0.02, "inconclusive"),
             _diff("bad", "l2", "raw filter peaks", 0.01, 0.03, "not lower"),
             _diff("bad", "l1", "raw filter peaks", -0.04, -0.01, "lower")]  # fmt: skip
    diff += [_diff("bad", layer, "random positions", -0.01, 0.01, "inconclusive") for layer in ("all", "l2", "l1")]
    occlusion = [
        {"model": "good", "images": 8, "worst_on": 0.75, "ci_low": 0.41, "ci_high": 0.93, "on_share": 0.2,
         "drop_on": 0.3, "drop_off": 0.05},
        {"model": "bad", "images": 0, "worst_on": math.nan, "ci_low": math.nan, "ci_high": math.nan,
         "on_share": math.nan, "drop_on": math.nan, "drop_off": math.nan},
    ]  # fmt: skip
    return {"instability": inst, "difference": diff, "occlusion": occlusion}


def test_readme_verdicts_reasons_and_figures(tmp_path) -> None:
    (tmp_path / "good").mkdir()
    for name in ("deconvnet-l1.png", "occlusion-0.png", "patterns-l1.png", "top9-l1.csv"):
        (tmp_path / "good" / name).write_text("x")
    path = write_readme(tmp_path, tables=_tables(), command="attrbench experiment features good bad",
                        timings={"good": 100.0, "bad": 50.0}, options=OPTIONS)  # fmt: skip
    text = path.read_text()
    lines = text.splitlines()
    assert "    attrbench experiment features good bad" in lines and "Run time 150 s" in text
    assert "| good | all | 0.1000 [0.0900, 0.1100] | 0.2000 [0.1900, 0.2100] | 0.3000 [0.2900, 0.3100] " \
           "| -0.1500 [-0.2000, -0.1000] | lower |" in lines  # fmt: skip
    verdict_at = lines.index("- **bad: inconclusive** (graph - peaks -0.0150 [-0.0500, 0.0200])")
    reasons = [line for line in lines[verdict_at + 1 :] if line.startswith("  - possible reason")]
    assert any("random positions either" in r for r in reasons)  # graph vs random is inconclusive too
    assert any("whole scenes" in r for r in reasons) and any("4 patterns per filter" in r for r in reasons)
    assert any(r.endswith("per layer: lower in l1; not lower in l2") for r in reasons)
    assert any("40 test images" in r for r in reasons)
    good_at = lines.index("- **good: lower** (graph - peaks -0.1500 [-0.2000, -0.1000])")
    assert not lines[good_at + 1].startswith("  - possible reason")
    assert "| good | 8 | 0.7500 [0.4100, 0.9300] | 0.200 | 0.300 | 0.050 |" in lines
    assert any(line.startswith("| bad | 0 | n/a") for line in lines)
    assert any(line.startswith("  - `deconvnet-l1.png`: deconvnet projections") for line in lines)
    assert any(line.startswith("  - `occlusion-0.png`: a test image") for line in lines)
