"""pytest-benchmark suite for the metric hot paths (one batch each).

Default test run: each benchmark body runs once as a plain test (``--benchmark-disable`` in
addopts) and its result is checked. To measure:

    pytest tests/benchmarks --benchmark-enable --benchmark-json=results/benchmarks/<name>.json

Workload: a batch of 8 SynthBirds-sized images (3 x 96 x 96) on a random-init BagNet-17 of the
shipped width in float32 on the CPU, maps from a fixed generator; this is the per-batch work of
``attrbench run`` with the default metric settings.
"""

from __future__ import annotations

import pytest
import torch

from attrbench.api import Batch, ClassLogit, MethodInfo
from attrbench.ground_truth import receptive_field_of
from attrbench.metrics.base import MetricContext
from attrbench.metrics.deletion import Deletion
from attrbench.metrics.gt import GroundTruthAgreement
from attrbench.metrics.insertion import Insertion
from attrbench.metrics.localisation import Localisation
from attrbench.testing.models import tiny_bagnet

B, SIZE = 8, 96


@pytest.fixture(scope="module")
def ctx() -> MetricContext:
    model = tiny_bagnet(17, num_classes=20, width=8, seed=0, dtype=torch.float32, input_size=(SIZE, SIZE))
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(B, 3, SIZE, SIZE, generator=gen)
    maps = torch.randn(B, 1, SIZE, SIZE, generator=gen)
    # object masks by construction: a centred square of side 40 px
    masks = torch.zeros(B, 1, SIZE, SIZE)
    masks[:, :, 28:68, 28:68] = 1.0
    bboxes = torch.tensor([[28.0, 28.0, 40.0, 40.0]]).expand(B, 4).clone()
    labels = torch.randint(0, 20, (B,), generator=gen)
    batch = Batch(images=images, labels=labels, ids=[f"s{i}" for i in range(B)], masks=masks, bboxes=bboxes)
    return MetricContext(
        model=model, batch=batch, target=ClassLogit(labels), raw=maps, maps=maps,
        method_info=MethodInfo(name="bench", paper="-"), explain=lambda m: maps,
        sample_index=torch.arange(B), rf=receptive_field_of(model),
    )


def test_bench_deletion_curves(benchmark, ctx) -> None:
    result = benchmark(Deletion().compute, ctx)
    curve = next(iter(result.curves.values()))
    assert curve.scores.shape[0] == B and torch.isfinite(curve.scores).all()
    assert curve.fractions[0] == 0 and curve.fractions[-1] == 1


def test_bench_insertion_curves(benchmark, ctx) -> None:
    result = benchmark(Insertion().compute, ctx)
    assert all(v.shape == (B,) and torch.isfinite(v).all() for v in result.values.values())


def test_bench_localisation(benchmark, ctx) -> None:
    result = benchmark(Localisation().compute, ctx)
    assert set(result.values) == {"loc_pointing_game", "loc_energy_mask", "loc_energy_box", "loc_iou_top", "loc_auroc"}
    # the box equals the mask here, so both energies agree exactly
    torch.testing.assert_close(result.values["loc_energy_box"], result.values["loc_energy_mask"], rtol=0, atol=0)


def test_bench_ground_truth(benchmark, ctx) -> None:
    result = benchmark(GroundTruthAgreement().compute, ctx)
    rho = result.values["gt_spearman"]
    assert rho.shape == (B,) and torch.isfinite(rho).all() and (rho.abs() <= 1).all()
