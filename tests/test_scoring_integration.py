"""Issue 10 in real runs: layer maps placed by geometry, coverage recorded, chance values, random_logit."""

from __future__ import annotations

import json

import torch

from attrbench.api import MethodInfo, Resolution
from attrbench.geometry import layer_geometry, model_coverage_fraction, place
from attrbench.metrics.gt import GroundTruthAgreement
from attrbench.postprocess import PostProcess
from attrbench.runner import evaluate
from attrbench.testing.models import tiny_bagnet
from attrbench.testing.toys import make_context, toy_model, toy_samples


def test_layer_maps_are_placed_by_geometry_and_coverage_is_recorded(tmp_path) -> None:
    model = toy_model()
    out = tmp_path / "run"
    df = evaluate(methods=["gradcam[layer=net.layer2]", "saliency", "guidedgradcam"], model=model, dataset=toy_samples(4),
                  metrics=["gt", "random_logit"], batch_size=2, out=out, n_samples=4)  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    geometry = layer_geometry(model, "net.layer2", input_size=(48, 48))
    assert config["method_config"]["gradcam[layer=net.layer2]"]["geometry"] == {
        "size": geometry.size, "stride": geometry.stride, "offset": geometry.offset}
    assert config["method_config"]["saliency"]["geometry"] is None
    assert config["method_config"]["guidedgradcam"]["geometry"] is None  # a layer, but input-resolution maps
    assert not df[df.method == "guidedgradcam"].error.fillna("").str.contains("post-processing").any()
    assert (df[df.method == "guidedgradcam"].status == "ok").any()
    assert config["coverage_fraction"] == model_coverage_fraction(model, size=(48, 48)) < 1.0  # q = 9 at 48 px: 40/48
    # random_logit now runs in real runs (MetricContext.explain_target), with values in its range
    rl = df[df.metric.str.startswith("random_logit") & (df.method != "guidedgradcam")]  # its constant maps: NaN
    assert len(rl) == 2 * 2 * 4 and (rl.status == "ok").all() and rl.value.between(-1, 1).all()
    # the gt chance values are recorded next to the raw sign metrics
    assert {"gt_sign_agreement_chance", "gt_sign_agreement_corrected"} <= set(df.metric)


def test_the_run_places_a_layer_map_by_its_geometry_not_by_stretching() -> None:
    """The scoring path passes the method's geometry: a 12 x 12 layer map lands on its receptive fields."""
    from attrbench.context import RunContext
    from attrbench.runspec import RunConfig
    from attrbench.scoring import _postprocess

    model = toy_model()
    ctx = RunContext.open(RunConfig(methods=["gradcam[layer=net.layer2]"], metrics=["gt"], n_samples=2),
                          model=model, dataset=toy_samples(2))  # fmt: skip
    method = ctx.methods[0]
    raw = torch.rand(2, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    maps = _postprocess(ctx, method, raw, (48, 48), {})
    expected = place(method.postprocess.reduce_map(raw), geometry=method.geometry, size=(48, 48))
    torch.testing.assert_close(maps, expected, rtol=0, atol=0)
    stretched = torch.nn.functional.interpolate(raw, size=(48, 48), mode="bilinear", align_corners=False)
    assert not torch.allclose(maps, stretched)


def test_gt_chance_corrected_values_by_construction() -> None:
    """The truth itself: corrected = 1; a map with every sign flipped to its opposite: below chance."""
    from attrbench.ground_truth import patch_truth
    from attrbench.models.bagnet import ReceptiveField

    model = tiny_bagnet(9, input_size=(48, 48))
    samples = toy_samples(3)
    images = torch.stack([s.image for s in samples]).double()
    labels = torch.tensor([s.label for s in samples])
    g = patch_truth(model, images, labels=labels, baseline=None)
    info = MethodInfo(name="grid", paper="test stand-in", resolution=Resolution.PATCH)
    maps = PostProcess()(g.unsqueeze(1), size=(48, 48), info=info, rf=ReceptiveField(9))
    metric = GroundTruthAgreement()
    res = metric.compute(make_context(model=model, images=images, labels=labels, maps=maps, grid_map=g, info=info))
    flat = g.flatten(1)
    expected_chance = sum(((torch.sign(flat) == s).double().mean(1)) ** 2 for s in (-1, 0, 1))
    torch.testing.assert_close(res.values["gt_sign_agreement_chance"], expected_chance, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.values["gt_sign_agreement_corrected"], torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-12)
    flipped = metric.compute(make_context(model=model, images=images, labels=labels, maps=-maps, grid_map=-g, info=info))
    assert bool((flipped.values["gt_sign_agreement_corrected"] < 0).all())
    assert metric.value_range("gt_sign_agreement_corrected").high == 1.0
    assert metric.value_range("gt_positive_mass_chance").as_dict() == {"low": 0.0, "high": 1.0, "kind": "continuous"}


def test_runs_declare_scoring_resolution_and_reference_rows(tmp_path) -> None:
    """metric_info states resolution + rule; Grad-CAM at the BagNet's last layer is a declared reference row."""
    from attrbench.export import run_references

    model = toy_model()
    out = tmp_path / "run"
    evaluate(methods=["gradcam", "gradcam[layer=net.layer2]", "saliency"], model=model, dataset=toy_samples(2),
             metrics=["gt", "gt_cell", "deletion[steps=2]"], batch_size=2, out=out, n_samples=2)  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    info = config["metric_info"]
    assert info["gt"]["scoring"]["resolution"] == "patch grid" and info["gt"]["scoring"]["aggregation"].startswith("rf_sum")
    assert info["gt_cell"]["scoring"]["resolution"] == "cell grid (8 x 8 px)" and info["gt_cell"]["scoring"]["prefix"] == "cellgt"
    assert info["deletion[steps=2]"]["scoring"]["resolution"] == "8 x 8 px blocks"
    assert info["gt"]["ranges"]["gt_sign_agreement_corrected"] == {"low": None, "high": 1.0, "kind": "continuous"}
    assert config["reference_methods"] == ["gradcam"]  # the last layer (spec.cam_layer); layer2 competes
    assert run_references([out]) == {"gradcam"}
