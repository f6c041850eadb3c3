"""Runner on a tiny BagNet and in-memory samples: schema, failed samples, specs, resume."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from attrbench.raw_ranking import RATIO_OF_MEANS
from attrbench.results import CURVE_COLUMNS, RECORD_COLUMNS, SUMMARY_COLUMNS, load_run
from attrbench.runner import evaluate, parse_spec, split_specs
from attrbench.testing.toys import toy_model, toy_samples

TOYS = "attrbench.testing.toys"


def test_parse_specs() -> None:
    assert split_specs("ig,gradcam[layer=net.layer3,relu=false],x") == ["ig", "gradcam[layer=net.layer3,relu=false]", "x"]
    assert parse_spec("gradcam[layer=net.layer3,relu=false,n=3,s=0.5,k=none]") == (
        "gradcam", {"layer": "net.layer3", "relu": False, "n": 3, "s": 0.5, "k": None}
    )
    assert parse_spec("gt[topk=5;10]") == ("gt", {"topk": (5, 10)})
    assert parse_spec(f"{TOYS}:ToyInputXGradient") == (f"{TOYS}:ToyInputXGradient", {})
    with pytest.raises(ValueError, match="key=value"):
        parse_spec("ig[steps]")


def test_records_schema_and_failed_samples(tmp_path) -> None:
    samples = toy_samples(5)
    samples[1] = type(samples[1])(**{**samples[1].__dict__, "image": samples[1].image.clone()})
    samples[1].image[0, 0, 0] = -1.0  # FailingForSecond raises on this image
    out = tmp_path / "run"
    df = evaluate(
        methods=[f"{TOYS}:NaNForFirst", f"{TOYS}:FailingForSecond"],
        model=toy_model(), dataset=samples, metrics=["gt", "deletion[steps=4]", "localisation", "runtime"],
        batch_size=3, out=out, n_samples=5, sampling="first",
    )  # fmt: skip
    assert list(df.columns) == list(RECORD_COLUMNS)
    nan = df[df.method == f"{TOYS}:NaNForFirst"]
    failed = nan[nan.status == "failed"]
    # the first sample of each batch (s000, s003) fails for every metric, with the reason
    assert set(failed.sample_id) == {"s000", "s003"}
    assert set(failed.error) == {"method returned NaN/inf"}
    assert failed.value.isna().all()
    assert set(nan[nan.status == "ok"].sample_id) == {"s001", "s002", "s004"}
    names = {"gt_spearman", "gt_pearson", "gt_topk_precision@5", "gt_topk_precision@10", "gt_topk_precision@20",
             "gt_positive_mass", "gt_sign_agreement", "gt_positive_mass_chance", "gt_positive_mass_corrected",
                 "gt_sign_agreement_chance", "gt_sign_agreement_corrected", "deletion_auc", "deletion_auc_raw", "loc_pointing_game", "loc_energy_mask",
             "loc_energy_box", "loc_iou_top", "loc_auroc", "runtime_s"}  # fmt: skip
    for sid in ("s000", "s001"):
        assert set(nan[nan.sample_id == sid].metric) == names
    raising = df[df.method == f"{TOYS}:FailingForSecond"]
    bad = raising[raising.status == "failed"]
    assert set(bad.sample_id) == {"s001"} and bad.error.str.contains("RuntimeError: toy failure").all()
    assert set(raising[raising.status == "ok"].sample_id) == {"s000", "s002", "s003", "s004"}
    # directions and categories come from the metric
    assert df.loc[df.metric == "deletion_auc", "higher_is_better"].eq(False).all()
    assert df.loc[df.metric == "gt_spearman", "category"].eq("ground_truth").all()
    data = load_run(out)
    assert list(data.curves.columns) == list(CURVE_COLUMNS)
    ok_curves = data.curves[(data.curves.method == f"{TOYS}:FailingForSecond")]
    assert ok_curves.groupby("sample_id").size().to_dict() == {s: 5 for s in ("s000", "s002", "s003", "s004")}
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    row = summary[(summary.method == f"{TOYS}:NaNForFirst") & (summary.metric == "deletion_auc")].iloc[0]
    assert row.n == 3
    # the normalised AUC is summarised as the normalised AUC of the mean curve of the ok samples, undefined
    # (NaN) when the mean fill does not score below the mean image, as on this untrained toy
    ok = data.curves[(data.curves.method == f"{TOYS}:NaNForFirst") & data.curves.sample_id.isin(["s001", "s002", "s004"])]
    mean_curve = ok.groupby("step")[["fraction", "score"]].mean()
    auc = np.trapezoid(mean_curve["score"], mean_curve["fraction"])
    f_x, f_fill = mean_curve["score"].iloc[0], mean_curve["score"].iloc[-1]
    expected = (auc - f_fill) / (f_x - f_fill) if f_x > f_fill else np.nan
    assert row.ci_method == RATIO_OF_MEANS
    np.testing.assert_allclose(row["mean"], expected, rtol=1e-9)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["status"] == "finished" and cfg["seed"] == 0 and cfg["postprocess_config"] is None  # per method
    pp = cfg["method_config"][f"{TOYS}:NaNForFirst"]["postprocess"]
    assert pp["preset"] == "signed" and pp["config"]["reduce"] == "sum"
    assert df["metric_spec"].isin(["gt", "deletion[steps=4]", "localisation", "runtime"]).all()
    assert cfg["metric_info"]["deletion[steps=4]"]["outputs"] == {"deletion_auc": False, "deletion_auc_raw": False}
    assert "torch" in cfg["versions"] and cfg["git_hash"]


def test_resume_reproduces_and_refuses_other_config(tmp_path) -> None:
    kw = dict(model=toy_model(), dataset=toy_samples(4), metrics=["gt", "insertion[steps=2]"], batch_size=2, n_samples=4)
    full = evaluate(methods=[f"{TOYS}:ToyInputXGradient"], out=tmp_path / "a" / "run", **kw)
    part = tmp_path / "b" / "run"
    evaluate(methods=[f"{TOYS}:ToyInputXGradient"], out=part, **kw)
    (part / "records.parquet").unlink()
    next(iter(sorted((part / "shards").glob("b000001-*.records.parquet")))).unlink()  # "killed" before batch 1
    resumed = evaluate(methods=[f"{TOYS}:ToyInputXGradient"], out=part, resume=True, **kw)
    pd.testing.assert_frame_equal(full, resumed)
    with pytest.raises(ValueError, match="already holds a run"):
        evaluate(methods=[f"{TOYS}:ToyInputXGradient"], out=part, **kw)
    with pytest.raises(ValueError, match="differs in"):
        evaluate(methods=[f"{TOYS}:ToyInputXGradient"], out=part, resume=True, **{**kw, "n_samples": 3})


def test_unknown_names_and_missing_masks(tmp_path) -> None:
    from attrbench.errors import DataError, UnknownNameError

    with pytest.raises(UnknownNameError, match="Did you mean 'deletion'"):
        evaluate(methods=[f"{TOYS}:ToyInputXGradient"], model=toy_model(), dataset=toy_samples(2), metrics=["deletoin"], out=tmp_path / "x")
    with pytest.raises(DataError, match="'localisation' needs object masks; dataset 'custom' has none"):
        evaluate(methods=[f"{TOYS}:ToyInputXGradient"], model=toy_model(), dataset=toy_samples(2, masks=False),
                 metrics=["localisation"], out=tmp_path / "y")  # fmt: skip
    with pytest.raises(DataError, match="empty"):
        evaluate(methods=[f"{TOYS}:ToyInputXGradient"], model=toy_model(), dataset=[], out=tmp_path / "z")


def test_randomisation_scores_only_the_subset(tmp_path) -> None:
    df = evaluate(
        methods=[f"{TOYS}:ToyInputXGradient"], model=toy_model(), dataset=toy_samples(3),
        metrics=["randomisation[max_samples=1,max_stages=2]"], batch_size=2, n_samples=3, out=tmp_path / "run",
        sampling="first",
    )  # fmt: skip
    assert set(df.sample_id) == {"s000"}
    assert sorted(df.metric) == ["mprt_spearman@fc", "mprt_spearman@layer4", "mprt_ssim@fc", "mprt_ssim@layer4"]
    assert (df.status == "ok").all() and (~df.higher_is_better).all() and (df.category == "randomisation").all()


def test_resume_of_a_finished_run_keeps_it_as_stored(tmp_path, monkeypatch) -> None:
    """A finished run without its unit files (as committed in results/) is reused by --resume: nothing is
    scored again and its files, phase times included, stay byte for byte; the data root may be named
    relatively or absolutely."""
    import attrbench.scoring

    root = tmp_path / "data"
    root.mkdir()
    kw = dict(model=toy_model(), dataset=toy_samples(4), metrics=["gt", "insertion[steps=2]"], batch_size=2, n_samples=4)
    out = tmp_path / "run"
    first = evaluate(methods=[f"{TOYS}:ToyInputXGradient"], out=out, data_root=str(root), **kw)
    for part in (out / "shards").iterdir():
        part.unlink()
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("a finished run was scored again")

    monkeypatch.setattr(attrbench.scoring, "score_unit", refuse)
    monkeypatch.chdir(tmp_path)
    again = evaluate(methods=[f"{TOYS}:ToyInputXGradient"], out=out, resume=True, data_root="./data", **kw)
    pd.testing.assert_frame_equal(first, again)
    # the data moved (another machine): nothing is read from it, so the finished run is still reused
    moved = evaluate(methods=[f"{TOYS}:ToyInputXGradient"], out=out, resume=True, data_root="/elsewhere/data", **kw)
    pd.testing.assert_frame_equal(first, moved)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    with pytest.raises(ValueError, match="differs in"):  # any other difference is still refused
        evaluate(methods=[f"{TOYS}:ToyInputXGradient"], out=out, resume=True, **{**kw, "n_samples": 3})


def test_resume_of_an_unfinished_run_compares_data_roots_as_folders(tmp_path, monkeypatch) -> None:
    (tmp_path / "data").mkdir()
    kw = dict(model=toy_model(), dataset=toy_samples(4), metrics=["gt"], batch_size=2, n_samples=4)
    out = tmp_path / "run"
    evaluate(methods=[f"{TOYS}:ToyInputXGradient"], out=out, data_root=str(tmp_path / "data"), **kw)
    (out / "records.parquet").unlink()  # unfinished: the resume will read the data
    monkeypatch.chdir(tmp_path)
    evaluate(methods=[f"{TOYS}:ToyInputXGradient"], out=out, resume=True, data_root="./data", **kw)
    (out / "records.parquet").unlink()
    with pytest.raises(ValueError, match=r"differs in \['data_root'\]"):
        evaluate(methods=[f"{TOYS}:ToyInputXGradient"], out=out, resume=True, data_root="/elsewhere/data", **kw)
