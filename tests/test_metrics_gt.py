"""Ground-truth agreement on a float64 tiny BagNet: oracle, reversed and swapped maps."""

from __future__ import annotations

import torch

from attrbench.api import MethodInfo, Resolution
from attrbench.ground_truth import patch_truth, patches_to_pixels
from attrbench.metrics.gt import GroundTruthAgreement
from attrbench.testing.models import tiny_bagnet
from attrbench.testing.toys import make_context

GRID_INFO = MethodInfo(name="grid", paper="test", resolution=Resolution.PATCH)


def _setup():
    model = tiny_bagnet(9, num_classes=5, width=4, seed=0)  # 48 x 48 -> 5 x 5 grid
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 48, 48, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 4])  # classes whose truth has both signs
    return model, x, labels


def _ctx(model, x, labels, grid, **kw):
    maps = torch.zeros(x.shape[0], 1, 48, 48, dtype=torch.float64)
    return make_context(model=model, images=x, labels=labels, maps=maps, grid_map=grid, info=kw.pop("info", GRID_INFO), **kw)


def test_oracle_map_scores_perfectly() -> None:
    model, x, labels = _setup()
    truth = patch_truth(model, x, labels=labels)
    res = GroundTruthAgreement().compute(_ctx(model, x, labels, truth))
    for name in ("gt_spearman", "gt_pearson", "gt_topk_precision@5", "gt_topk_precision@10", "gt_topk_precision@20",
                 "gt_positive_mass", "gt_sign_agreement"):  # fmt: skip
        torch.testing.assert_close(res.values[name], torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-12, msg=name)


def test_reversed_and_swapped_maps_give_known_values() -> None:
    model, x, labels = _setup()
    truth = patch_truth(model, x, labels=labels)
    assert (truth != 0).all()
    rev = GroundTruthAgreement().compute(_ctx(model, x, labels, -truth)).values
    torch.testing.assert_close(rev["gt_spearman"], -torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(rev["gt_pearson"], -torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-12)
    assert rev["gt_sign_agreement"].tolist() == [0.0, 0.0]
    assert rev["gt_topk_precision@5"].tolist() == [0.0, 0.0]  # 1 patch of 25: the largest vs the smallest
    # swap the largest and the smallest truth values: rho = 1 - 6 * 2 * 24^2 / (25 * (25^2 - 1)) = 0.556923...
    flat = truth.flatten(1).clone()
    hi, lo = flat.argmax(1), flat.argmin(1)
    rows = torch.arange(2)
    swapped = flat.clone()
    swapped[rows, hi], swapped[rows, lo] = flat[rows, lo], flat[rows, hi]
    res = GroundTruthAgreement().compute(_ctx(model, x, labels, swapped.view_as(truth))).values
    expected = 1 - 6 * 2 * 24**2 / (25 * (25**2 - 1))
    torch.testing.assert_close(res["gt_spearman"], torch.full((2,), expected, dtype=torch.float64), rtol=0, atol=1e-12)
    assert res["gt_topk_precision@5"].tolist() == [0.0, 0.0]
    assert res["gt_topk_precision@20"].tolist() == [0.8, 0.8]  # 4 of the top 5 survive the swap


def test_baseline_matched_truth_and_pixel_maps() -> None:
    model, x, labels = _setup()
    info = MethodInfo(name="b", paper="test", resolution=Resolution.INPUT, needs_baseline=True)
    truth_b = patch_truth(model, x, labels=labels, baseline=0.5)
    q2 = 9 * 9
    # a pixel map whose rf_sum aggregation is exactly q^2 * spread(truth) summed: use the oracle grid
    pix = patches_to_pixels(truth_b, rf=model.net.rf, size=(48, 48))  # type: ignore[union-attr]
    ctx = make_context(model=model, images=x, labels=labels, maps=pix, info=info, baseline=0.5)
    res = GroundTruthAgreement(rule="rf_sum").compute(ctx).values
    assert (res["gt_spearman"] > 0.5).all()
    oracle = make_context(model=model, images=x, labels=labels, maps=pix, info=info, baseline=0.5, grid_map=truth_b * q2)
    assert GroundTruthAgreement().compute(oracle).values["gt_spearman"].tolist() == [1.0, 1.0]
    # without a baseline the truth is the bias-net evidence. A constant baseline image gives every patch the
    # same l_p(b), so the two truths differ by a constant shift: correlations stay 1, signs change.
    info_nb = MethodInfo(name="nb", paper="test", resolution=Resolution.INPUT)
    other = make_context(model=model, images=x, labels=labels, maps=pix, info=info_nb, grid_map=truth_b)
    res_nb = GroundTruthAgreement().compute(other).values
    torch.testing.assert_close(res_nb["gt_pearson"], torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-12)
    assert (res_nb["gt_sign_agreement"] < 1).all()
