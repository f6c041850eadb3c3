"""Per-component profile and projection of a leaderboard run (attrbench.leaderboard_cost), by hand."""

from __future__ import annotations

import pytest

from attrbench.leaderboard_cost import components, metric_cap, project

RECORD = {
    "phases": {
        "load": 5.0,
        "method ig": 8.0,
        "metric gt": 1.0,
        "method saliency": 2.0,
        "metric randomisation[max_samples=8,floor=true]": 16.0,
        "metric randomisation": 4.0,
        "metric deletion[fill=zero,max_samples=2]": 3.0,
        "write units": 0.5,
        "merge and summary": 1.5,
    },
}


def test_caps_come_from_the_spec_or_the_metric_default() -> None:
    assert metric_cap("randomisation[max_samples=8,floor=true]") == 8
    assert metric_cap("randomisation") == 2  # Randomisation's own default
    assert metric_cap("deletion[fill=zero]") is None
    assert metric_cap("deletion[fill=zero,max_samples=2]") == 2
    assert metric_cap("gt") is None


def test_components_sum_method_calls_and_keep_the_rest() -> None:
    got = components(RECORD)
    assert got["methods"] == 10.0
    assert got["load"] == 5.0 and got["write units"] == 0.5
    assert sum(got.values()) == pytest.approx(sum(RECORD["phases"].values()))


def test_projection_scales_per_image_parts_and_stops_capped_metrics_at_their_cap() -> None:
    got = project(RECORD, measured=4, target=200)
    assert got["load"] == (5.0, 5.0) and got["merge and summary"] == (1.5, 1.5)  # once per run
    assert got["methods"] == (10.0, 500.0)  # x 200 / 4
    assert got["metric gt"] == (1.0, 50.0)
    assert got["metric randomisation[max_samples=8,floor=true]"] == (16.0, 32.0)  # 4 -> 8 samples
    assert got["metric randomisation"] == (4.0, 4.0)  # cap 2 reached in both runs
    assert got["metric deletion[fill=zero,max_samples=2]"] == (3.0, 3.0)
    assert got["write units"] == (0.5, 25.0)


def test_projection_refuses_empty_counts() -> None:
    with pytest.raises(ValueError, match="measured and target"):
        project(RECORD, measured=0, target=200)
