"""The same raw map gets the same scores whatever resolution it declares (maps placed by geometry)."""

from __future__ import annotations

import pandas as pd
from torch import Tensor

from attrbench.api import AttributionMethod, MethodInfo, Resolution, Target
from attrbench.geometry import Geometry, place
from attrbench.ground_truth import patch_truth
from attrbench.models.zoo import load_model
from attrbench.runner import evaluate
from attrbench.testing.toys import MODEL, ToyImages


def _by_method(records: pd.DataFrame) -> dict[str, pd.Series]:
    ok = records[records.status == "ok"] if "status" in records else records
    return {m: g.set_index(["metric", "sample_id"]).value.sort_index() for m, g in ok.groupby("method")}


def _assert_same(records: pd.DataFrame, a: str, b: str) -> None:
    by = _by_method(records)
    assert len(by[a]) > 0 and by[a].index.equals(by[b].index)
    pd.testing.assert_series_equal(by[a], by[b], rtol=0, atol=1e-9, check_names=False)


def test_gradcam_last_layer_and_oracle_score_identically(tmp_path) -> None:
    """Both return (l_p - b_c) / N on the patch grid of the shipped bagnet17 (float64); every metric agrees."""
    metrics = ["gt", "gt_cell[cell=16]", "localisation", "deletion[steps=4]", "insertion[steps=4]"]
    model = load_model("bagnet17-synthbirds").double()
    records = evaluate(methods=["gradcam", "oracle"], model=model, dataset="synthbirds",
                        metrics=metrics, n_samples=2, batch_size=2, out=tmp_path / "run")  # fmt: skip
    assert {"gt_spearman", "cellgt_spearman", "loc_energy_mask", "deletion_auc"} <= set(records.metric)
    _assert_same(records, "gradcam", "oracle")


class _PatchTruth(AttributionMethod):
    """The patch truth declared on the patch grid, (B, 1, H', W')."""

    info = MethodInfo(name="patch-declared", paper="test stand-in", resolution=Resolution.PATCH)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        return patch_truth(self.model, inputs, labels=target.labels, baseline=0.0).unsqueeze(1)  # type: ignore[arg-type,attr-defined]


class _PixelTruth(AttributionMethod):
    """The same map spread over the pixels by the placement rule, declared at input resolution."""

    info = MethodInfo(name="pixel-declared", paper="test stand-in", resolution=Resolution.INPUT)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        g = patch_truth(self.model, inputs, labels=target.labels, baseline=0.0)  # type: ignore[arg-type,attr-defined]
        q = self.spec.receptive_field
        return place(g.unsqueeze(1), geometry=Geometry(size=q, stride=self.spec.rf_stride), size=tuple(inputs.shape[-2:]))  # type: ignore[arg-type]


def test_patch_and_pixel_declarations_score_the_same(tmp_path) -> None:
    metrics = ["gt[rule=lstsq]", "gt_cell", "localisation", "deletion[steps=4]", "insertion[steps=4]"]
    records = evaluate(methods=[_PatchTruth, _PixelTruth], model=MODEL, dataset=ToyImages(n=4),
                        metrics=metrics, n_samples=4, batch_size=2, out=tmp_path / "run")  # fmt: skip
    assert records.method.nunique() == 2
    _assert_same(records, "patch-declared", "pixel-declared")
    spearman = records[(records.metric == "gt_spearman")].value
    assert bool((spearman > 1 - 1e-9).all())  # lstsq brings both back to the truth exactly
