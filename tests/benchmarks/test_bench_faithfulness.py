"""pytest-benchmark suite for the faithfulness metrics of issue 10: ROAD, patch-evidence deletion, and
pixel deletion with random tie orders on a map with 35 % ties.

Default test run: each body runs once as a plain test (``--benchmark-disable`` in addopts). Measure:

    pytest tests/benchmarks/test_bench_faithfulness.py --benchmark-enable

Workload: as ``test_bench_metrics.py``: a batch of 8 images of 3 x 96 x 96 on a random-init
BagNet-17 of the shipped width (float32, CPU), maps from a fixed generator.
"""

from __future__ import annotations

import pytest
import torch

from attrbench.api import Batch, ClassLogit, MethodInfo
from attrbench.ground_truth import receptive_field_of
from attrbench.metrics.base import MetricContext
from attrbench.metrics.deletion import Deletion
from attrbench.metrics.patch_deletion import PatchDeletion
from attrbench.metrics.road import Road
from attrbench.testing.models import tiny_bagnet

B, SIZE = 8, 96


@pytest.fixture(scope="module")
def ctx() -> MetricContext:
    model = tiny_bagnet(17, num_classes=20, width=8, seed=0, dtype=torch.float32, input_size=(SIZE, SIZE))
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(B, 3, SIZE, SIZE, generator=gen)
    maps = torch.randn(B, 1, SIZE, SIZE, generator=gen)
    labels = torch.randint(0, 20, (B,), generator=gen)
    batch = Batch(images=images, labels=labels, ids=[f"s{i}" for i in range(B)])
    return MetricContext(
        model=model, batch=batch, target=ClassLogit(labels), raw=maps, maps=maps,
        method_info=MethodInfo(name="bench", paper="-"), explain=lambda m: maps,
        sample_index=torch.arange(B), rf=receptive_field_of(model),
    )


def test_bench_road(benchmark, ctx) -> None:
    result = benchmark(Road().compute, ctx)
    assert result.curves["road_morf"].scores.shape == (B, 9)
    assert all(((v >= 0) & (v <= 1)).all() for v in result.values.values())  # probabilities


def test_bench_patch_deletion(benchmark, ctx) -> None:
    result = benchmark(PatchDeletion().compute, ctx)
    assert torch.isfinite(result.values["patch_deletion_auc_raw"]).all()


def test_bench_deletion_with_ties(benchmark, ctx) -> None:
    tied = ctx.maps.clamp_min(-0.385)  # P(z < -0.385) = 0.35: 35 % of the pixels tie at the floor (ReLU-like)
    tied_ctx = MetricContext(**{**vars(ctx), "maps": tied})
    result = benchmark(Deletion(unit=1).compute, tied_ctx)
    assert torch.isfinite(result.values["deletion_auc"]).all()
