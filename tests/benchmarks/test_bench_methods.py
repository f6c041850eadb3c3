"""pytest-benchmark suite: cost of every registered method on one batch, default hyperparameters.

Default test run: each body runs once as a plain test (``--benchmark-disable`` in addopts) and
its output is checked. To measure:

    pytest tests/benchmarks/test_bench_methods.py --benchmark-enable \
        --benchmark-json=results/benchmarks/methods.json

Workload: random-init BagNet-17 (width 16, one block per stage, 10 classes, float32, eval) on a
batch of 8 random 96 x 96 images, ClassLogit target; the cost per image is the reported time / 8
(``extra_info["batch"]``). Methods of other tracks (embedding) use their contract case
(attrbench.testing.contract) with a batch of 8.
"""

from __future__ import annotations

import pytest
import torch

from attrbench.api import ClassLogit
from attrbench.methods import get_method, list_methods
from attrbench.testing.contract import CASE_FACTORIES, contract_case
from attrbench.testing.models import tiny_bagnet

BATCH = 8


@pytest.fixture(scope="module")
def bagnet():
    return tiny_bagnet(17, num_classes=10, width=16, seed=0, dtype=torch.float32, input_size=(96, 96))


@pytest.mark.parametrize("name", list_methods())
def test_bench_method(benchmark, bagnet, name) -> None:
    cls = get_method(name)
    if name in CASE_FACTORIES:
        case = contract_case(name, cls, batch=BATCH)
        model, inputs, target, kwargs = case.model, case.inputs, case.target, case.kwargs
    else:
        gen = torch.Generator().manual_seed(0)
        model, inputs = bagnet, torch.rand(BATCH, 3, 96, 96, generator=gen)
        target, kwargs = ClassLogit(torch.arange(BATCH) % 10), {}
    method = cls(model, spec=model.spec, **kwargs)
    benchmark.extra_info.update(batch=BATCH, image_size=tuple(inputs.shape[-2:]), dtype=str(inputs.dtype))
    out = benchmark(method, inputs, target=target)
    assert out.shape[0] == BATCH and torch.isfinite(out).all()
