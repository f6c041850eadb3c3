"""gt_cell against the cell truth, ceilings per family, and metrics that ignore unseen pixels."""

from __future__ import annotations

import torch

from attrbench.ceilings import ceiling, ceiling_map, cells_to_pixels
from attrbench.cell_truth import cell_sums, cell_truth
from attrbench.geometry import patch_coverage, place, Geometry
from attrbench.ground_truth import patch_truth, pixels_to_patches
from attrbench.metrics.gt import GroundTruthAgreement
from attrbench.metrics.gt_cell import CellGroundTruthAgreement
from attrbench.metrics.deletion import Deletion
from attrbench.metrics.insertion import Insertion
from attrbench.metrics.localisation import Localisation
from attrbench.metrics.randomisation import Randomisation
from attrbench.models.bagnet import ReceptiveField
from attrbench.testing.models import tiny_bagnet
from attrbench.testing.toys import make_context, toy_samples

SIZE = (48, 48)


def _setup():  # noqa: ANN202
    model = tiny_bagnet(9, input_size=SIZE)
    samples = toy_samples(4, size=SIZE[0])
    images = torch.stack([s.image for s in samples]).double()
    labels = torch.tensor([s.label for s in samples])
    masks = torch.stack([s.mask for s in samples]).double()
    boxes = torch.tensor([s.bbox for s in samples], dtype=torch.float64)
    return model, images, labels, masks, boxes


def test_truth_spread_over_cells_scores_perfectly_and_equals_the_ceiling() -> None:
    model, images, labels, _, _ = _setup()
    truth = cell_truth(model, images, labels=labels, baseline=0.0)
    rf = ReceptiveField(9)
    covered = patch_coverage(rf, size=SIZE)
    maps = cells_to_pixels(truth.values, cell=8, size=SIZE, covered=covered)
    torch.testing.assert_close(cell_sums(maps, cell=8, covered=covered), truth.values, rtol=0, atol=1e-14)
    res = CellGroundTruthAgreement().compute(make_context(model=model, images=images, labels=labels, maps=maps))
    for name in ("cellgt_spearman", "cellgt_pearson", "cellgt_topk_precision@5", "cellgt_topk_precision@20"):
        torch.testing.assert_close(res.values[name], torch.ones(4, dtype=torch.float64), rtol=0, atol=1e-12)
    best = ceiling(truth.values, scoring="cell", family="pixel", rf=rf, size=SIZE, keep=truth.covered)
    torch.testing.assert_close(best["cellgt_spearman"], torch.ones(4, dtype=torch.float64), rtol=0, atol=1e-12)
    assert set(res.values) == set(CellGroundTruthAgreement().value_names(model=model, batch=None))  # type: ignore[arg-type]


def test_patch_ceilings_by_construction() -> None:
    model, images, labels, _, _ = _setup()
    rf = ReceptiveField(9)
    g = patch_truth(model, images, labels=labels, baseline=0.0)
    assert torch.equal(ceiling_map(g, scoring="patch", family="patch", rf=rf, size=SIZE), g)
    trip = pixels_to_patches(place(g, geometry=Geometry.of(rf), size=SIZE), rf=rf, rule="rf_sum")
    assert torch.equal(ceiling_map(g, scoring="patch", family="pixel", rf=rf, size=SIZE), trip)
    exact = ceiling(g, scoring="patch", family="pixel", rf=rf, size=SIZE, rule="lstsq")
    torch.testing.assert_close(exact["gt_pearson"], torch.ones(4, dtype=torch.float64), rtol=0, atol=1e-12)
    lossy = ceiling(g, scoring="patch", family="pixel", rf=rf, size=SIZE, rule="rf_sum")
    assert bool((lossy["gt_pearson"] < 1 - 1e-6).all())


def test_uncovered_pixels_change_no_metric() -> None:
    """q = 9 at 48 px: rows/cols 41..47 are seen by no patch; rewriting the map there changes nothing
    (ground truth, localisation, deletion/insertion at blocks and pixels, randomisation)."""
    model, images, labels, masks, boxes = _setup()
    covered = patch_coverage(ReceptiveField(9), size=SIZE)
    assert not bool(covered.all())
    maps = torch.randn(4, 1, *SIZE, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    loud = torch.where(covered, maps, torch.full_like(maps, 1e3))  # the max and most energy sit outside
    noise = torch.randn(4, 1, *SIZE, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    def explainer(base: torch.Tensor):  # noqa: ANN202 - the "randomised" map keeps base's unseen values
        return lambda other: torch.where(covered, noise, base)

    metrics = (GroundTruthAgreement(), GroundTruthAgreement(rule="lstsq"), CellGroundTruthAgreement(), Localisation(),
               Deletion(), Deletion(unit=1, fill="blur"), Insertion(fill="mean"), Randomisation(max_samples=4, max_stages=2))
    for metric in metrics:
        a = metric.compute(make_context(model=model, images=images, labels=labels, maps=maps, masks=masks, bboxes=boxes,
                                        explain=explainer(maps)))
        b = metric.compute(make_context(model=model, images=images, labels=labels, maps=loud, masks=masks, bboxes=boxes,
                                        explain=explainer(loud)))
        assert set(a.values) == set(b.values)
        assert any(bool(torch.isfinite(v).any()) for v in a.values.values())
        for name in a.values:
            torch.testing.assert_close(a.values[name], b.values[name], rtol=0, atol=1e-12, equal_nan=True)


def test_localisation_counts_only_covered_pixels() -> None:
    """A map whose mass sits only on the uncovered border has no (seen) positive energy."""
    model, images, labels, masks, _ = _setup()
    covered = patch_coverage(ReceptiveField(9), size=SIZE)
    border = (~covered).to(torch.float64).expand(4, 1, *SIZE)
    res = Localisation().compute(make_context(model=model, images=images, labels=labels, maps=border, masks=masks))
    assert bool(res.values["loc_energy_mask"].isnan().all())


def test_methods_with_a_baseline_are_scored_against_their_own_fill() -> None:
    from attrbench.api import MethodInfo, Resolution

    model, images, labels, _, _ = _setup()
    grey = cell_truth(model, images, labels=labels, baseline=0.5)
    maps = cells_to_pixels(grey.values, cell=8, size=SIZE, covered=patch_coverage(ReceptiveField(9), size=SIZE))
    with_fill = MethodInfo(name="b", paper="test stand-in", resolution=Resolution.INPUT, needs_baseline=True)
    own = CellGroundTruthAgreement().compute(
        make_context(model=model, images=images, labels=labels, maps=maps, info=with_fill, baseline=0.5)
    )
    torch.testing.assert_close(own.values["cellgt_pearson"], torch.ones(4, dtype=torch.float64), rtol=0, atol=1e-12)
    black = CellGroundTruthAgreement().compute(make_context(model=model, images=images, labels=labels, maps=maps))
    assert bool((black.values["cellgt_pearson"] < 1 - 1e-6).all())  # scored against the black-fill truth
