"""Metric specifications are identities: two specs of one metric give two labelled columns."""

from __future__ import annotations

import pandas as pd
import pytest

from attrbench.errors import OptionError
from attrbench.metric_specs import spec_suffixes
from attrbench.results import load_run
from attrbench.runner import RunConfig, run
from attrbench.testing import toys as toy


def test_suffixes_only_when_a_metric_has_several_specs() -> None:
    assert spec_suffixes(["gt", "deletion[steps=4]"]) == ["", ""]
    assert spec_suffixes(["deletion", "deletion[fill=blur]", "gt"]) == ["", "[fill=blur]", ""]
    assert spec_suffixes(["deletion[fill=blur]", "deletion[ fill = mean , score=probability ]"]) == [
        "[fill=blur]", "[fill=mean,score=probability]"]
    with pytest.raises(OptionError, match="given twice"):
        spec_suffixes(["deletion[fill=blur]", "deletion[ fill=blur ]"])


def test_two_deletion_specs_give_two_distinct_columns(tmp_path) -> None:
    out = tmp_path / "run"
    run(RunConfig(methods=[f"{toy.__name__}:ToyInputXGradient"], model=toy.MODEL, dataset=toy.DATASET,
                  metrics=["deletion[fill=blur,steps=4]", "deletion[fill=mean,steps=4]"], n_samples=3, batch_size=3,
                  out=str(out), device="cpu", progress=False))  # fmt: skip
    records = load_run(out).records
    blur, mean = "deletion_auc[fill=blur,steps=4]", "deletion_auc[fill=mean,steps=4]"
    assert {blur, mean} <= set(records["metric"]) and "deletion_auc" not in set(records["metric"])
    # each record carries the specification that produced it
    assert set(records.loc[records.metric == blur, "metric_spec"]) == {"deletion[fill=blur,steps=4]"}
    assert set(records.loc[records.metric == mean, "metric_spec"]) == {"deletion[fill=mean,steps=4]"}
    summary = pd.read_csv(out / "summary.csv")
    rows = summary[summary.metric.isin([blur, mean])]
    assert len(rows) == 2 and rows["n"].tolist() == [3, 3]
    # different fills are different numbers (the blurred and the mean image are different references)
    values = records[records.metric.isin([blur, mean])].pivot(index="sample_id", columns="metric", values="value")
    assert not values[blur].equals(values[mean])
    curves = load_run(out).curves
    assert {"deletion[fill=blur,steps=4]", "deletion[fill=mean,steps=4]"} <= set(curves["curve"])


def test_a_metric_given_alone_keeps_plain_names(tmp_path) -> None:
    out = tmp_path / "run"
    run(RunConfig(methods=[f"{toy.__name__}:ToyInputXGradient"], model=toy.MODEL, dataset=toy.DATASET,
                  metrics=["deletion[steps=4]"], n_samples=2, batch_size=2, out=str(out), device="cpu",
                  progress=False))  # fmt: skip
    records = load_run(out).records
    assert set(records["metric"]) == {"deletion_auc", "deletion_auc_raw"}
    assert set(records["metric_spec"]) == {"deletion[steps=4]"}


def test_the_same_spec_twice_is_refused_before_loading(tmp_path) -> None:
    with pytest.raises(OptionError, match="given twice"):
        run(RunConfig(methods=["saliency"], model="no-such-model", metrics=["gt", "gt[]"], out=str(tmp_path / "r"),
                      progress=False))  # fmt: skip
