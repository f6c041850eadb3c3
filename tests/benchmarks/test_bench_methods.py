"""pytest-benchmark suite: cost of every registered method on one batch, default hyperparameters.

Default test run: each body runs once as a plain test (``--benchmark-disable`` in addopts) and
its output is checked. To measure:

    pytest tests/benchmarks/test_bench_methods.py --benchmark-enable \
        --benchmark-json=results/benchmarks/methods.json

Workload: the embedded default model, the shipped ``bagnet17-synthbirds`` (width 8, one block per
stage, 20 classes, float32, eval), on a batch of 8 random 96 x 96 images, ClassLogit target; the cost per image is the reported time / 8
(``extra_info["batch"]``). Methods of other tracks (embedding) use their contract case
(attrbench.testing.contract) with a batch of 8.

In the default run (benchmark disabled) the same code path runs on a reduced workload (batch 2,
48 x 48 images, the contract test's small sample counts) so that the suite stays fast; the
numbers come only from ``--benchmark-enable`` runs, which use the full workload above.
"""

from __future__ import annotations

import pytest
import torch

from attrbench.api import ClassLogit
from attrbench.methods import get_method, list_methods
from attrbench.testing.contract import CASE_FACTORIES, FAST_KWARGS, contract_case
from attrbench.models import load_model

BATCH = 8


@pytest.fixture(scope="module")
def bagnet():
    return load_model("bagnet17-synthbirds", device=torch.device("cpu"))


@pytest.mark.parametrize("name", list_methods())
def test_bench_method(benchmark, bagnet, name) -> None:
    cls = get_method(name)
    full = not benchmark.disabled
    batch, size = (BATCH, 96) if full else (2, 48)
    if name in CASE_FACTORIES:
        case = contract_case(name, cls, batch=batch)
        model, inputs, target, kwargs = case.model, case.inputs, case.target, case.kwargs
    else:
        gen = torch.Generator().manual_seed(0)
        model, inputs = bagnet, torch.rand(batch, 3, size, size, generator=gen)
        target, kwargs = ClassLogit(torch.arange(batch) % bagnet.spec.num_outputs), ({} if full else dict(FAST_KWARGS.get(name, {})))
    method = cls(model, spec=model.spec, **kwargs)
    benchmark.extra_info.update(batch=batch, image_size=tuple(inputs.shape[-2:]), dtype=str(inputs.dtype),
                                threads=torch.get_num_threads())
    threads = torch.get_num_threads()
    if not full:  # the smoke run gains nothing from intra-op threads; on a shared machine they spin
        torch.set_num_threads(1)
    try:
        out = benchmark(method, inputs, target=target)
    finally:
        torch.set_num_threads(threads)
    assert out.shape[0] == batch and torch.isfinite(out).all()
