"""No host synchronisation per curve step, per tie order or per ROAD mode (issue 17, item 5).

A call that makes the host wait for the device (``.item()``, ``bool(t)``, ``.tolist()``,
``.nonzero()``, ...) counted by :class:`attrbench.testing.syncs.HostSyncCounter` may happen a
fixed number of times per batch, never once per step: the count must be the same for 3 and for
40 curve points, and for 2 and 5 random tie orders.
"""

from __future__ import annotations

import torch

from attrbench.api import ClassLogit
from attrbench.metrics.deletion import Deletion
from attrbench.metrics.perturbation import perturbation_curves
from attrbench.metrics.road import Road
from attrbench.testing.models import tiny_bagnet
from attrbench.testing.syncs import HostSyncCounter
from attrbench.testing.toys import make_context


def _inputs(dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor, ClassLogit]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 48, 48, generator=g, dtype=dtype)
    maps = torch.rand(2, 1, 48, 48, generator=g, dtype=dtype)
    return x, maps, ClassLogit(torch.tensor([0, 3]))


def _count(fn) -> int:  # noqa: ANN001
    with HostSyncCounter() as counter:
        fn()
    return counter.total


def test_the_counter_sees_syncs() -> None:
    x = torch.rand(4)
    with HostSyncCounter() as c:
        x.sum().item()
        bool(x[0] > 0)
        x[x > 0.5]
        x.tolist()
        x.to("cpu")
        x.to(torch.float64)  # a dtype change is not a transfer
    assert dict(c.calls) == {"item": 1, "__bool__": 1, "__getitem__": 1, "tolist": 1, "to": 1}


def _curve_syncs(engine: str, steps: int) -> int:
    model = tiny_bagnet(9, seed=1)
    x, maps, target = _inputs()
    return _count(lambda: perturbation_curves(model=model, images=x, maps=maps, target=target, mode="deletion", unit=8,
                                              steps=steps, engine=engine, forward_batch=5))  # fmt: skip


def test_full_curves_sync_a_fixed_number_of_times() -> None:
    assert _curve_syncs("full", 2) == _curve_syncs("full", 36)


def test_incremental_curves_sync_a_fixed_number_of_times() -> None:
    few, many = _curve_syncs("incremental", 2), _curve_syncs("incremental", 36)  # 3 and 37 curve points
    assert few == many


def test_tie_orders_sync_a_fixed_number_of_times() -> None:
    model = tiny_bagnet(9, seed=1)
    x, maps, _ = _inputs()
    maps = (maps * 4).floor()  # 4 distinct values: every sample has ties

    def run(orders: int) -> None:
        ctx = make_context(model=model, images=x, labels=torch.tensor([0, 3]), maps=maps)
        Deletion(steps=6, tie_orders=orders).compute(ctx)

    assert _count(lambda: run(2)) == _count(lambda: run(5))


def test_road_transfers_once_per_batch_not_per_mode() -> None:
    model = tiny_bagnet(9, seed=1, input_size=(12, 12))
    g = torch.Generator().manual_seed(2)
    x, maps = torch.rand(2, 3, 12, 12, generator=g, dtype=torch.float64), torch.rand(2, 1, 12, 12, generator=g, dtype=torch.float64)
    ctx = make_context(model=model, images=x, labels=torch.tensor([0, 3]), maps=maps)
    with HostSyncCounter() as c:
        Road(fractions=(0.2, 0.5)).compute(ctx)
    assert c.calls["numpy"] == 2 and c.calls["cpu"] == 1  # the images and the ranks, once for both modes
