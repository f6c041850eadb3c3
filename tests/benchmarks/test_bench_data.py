"""pytest-benchmark suite for data loading: one batch from SynthBirds / CUB-200-2011-format folders.

Default test run: each body runs once as a plain test (``--benchmark-disable`` in addopts). Measure:

    pytest tests/benchmarks --benchmark-enable --benchmark-json=results/benchmarks/<name>.json

Workload: a small SynthBirds set (4 classes x (2 train + 4 test) scenes, 96 x 96, seed 0) generated
once into a temporary folder; a batch of 16 samples with masks, boxes and parts, collated as the
runner does (same loader code path as ``attrbench run``).
"""

from __future__ import annotations

import pytest
import torch

from attrbench.api import Batch, collate
from attrbench.datasets.cub200 import CUB200
from attrbench.datasets.synthbirds import SynthBirds, generate

N = 16


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("bench") / "synthbirds", seed=0, num_classes=4, train_per_class=2,
                    test_per_class=4, image_size=96)


def _load_batch(dataset) -> Batch:
    return collate([dataset[i] for i in range(N)])


def test_bench_synthbirds_batch(benchmark, root) -> None:
    dataset = SynthBirds(root=root, split="test", image_size=96)
    batch = benchmark(_load_batch, dataset)
    assert batch.images.shape == (N, 3, 96, 96) and batch.masks.shape == (N, 1, 96, 96)
    assert batch.bboxes.shape == (N, 4) and batch.parts.shape == (N, 15, 3)
    assert float(batch.images.min()) >= 0.0 and float(batch.images.max()) <= 1.0
    assert torch.bincount(batch.labels, minlength=4).tolist() == [4, 4, 4, 4]


def test_bench_cub_bbox_crop_resize_batch(benchmark, root) -> None:
    dataset = CUB200(root=root, split="test", image_size=64, crop="bbox")
    batch = benchmark(_load_batch, dataset)
    assert batch.images.shape == (N, 3, 64, 64) and batch.masks.shape == (N, 1, 64, 64)
    # after cropping to the box, the box is the whole image
    torch.testing.assert_close(batch.bboxes, torch.tensor([[0.0, 0.0, 64.0, 64.0]]).expand(N, 4), rtol=0, atol=1e-4)


def test_bench_cub_index(benchmark, root) -> None:
    dataset = benchmark(CUB200, root=root, split="all")
    assert len(dataset) == 4 * (2 + 4)
