"""The forward-chunk probe: candidates, caps, in-process and disk caches, and its use in curves."""

from __future__ import annotations

import json
import time

import pytest
import torch
from torch import Tensor, nn

from attrbench.api import ClassLogit
from attrbench.metrics.curve_engine import forward_chunk
from attrbench.metrics.perturbation import perturbation_curves
from attrbench.probe import ForwardProbe, clear_probe_cache, probe_cache_path, probe_forward_chunk


class Counting(nn.Module):
    """Mean colour per channel as 3 logits; counts the images it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3))
        self.images = 0

    def forward(self, x: Tensor) -> Tensor:
        self.images += x.shape[0]
        return x.mean(dim=(2, 3)) * self.scale


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):  # noqa: ANN001, ANN202
    monkeypatch.setenv("ATTRBENCH_CACHE", str(tmp_path))
    clear_probe_cache()
    yield
    clear_probe_cache()


def test_probe_picks_a_candidate_within_the_cap_and_caches_it() -> None:
    model = Counting()
    x = torch.rand(1, 3, 8, 8)
    probe = probe_forward_chunk(model=model, sample=x, cap=6, min_time_s=0.0, repeats=1)
    tried = {int(c) for c in probe.images_per_s}
    assert tried <= {1, 2, 4, 6} and 1 in tried and probe.chunk in tried
    assert probe.images_per_s[str(probe.chunk)] == max(probe.images_per_s.values())
    assert probe.threads == torch.get_num_threads()
    seen = model.images
    assert probe_forward_chunk(model=model, sample=x, cap=6) == probe  # in-process cache: no forwards
    assert model.images == seen
    clear_probe_cache()
    disk = json.loads(probe_cache_path().read_text())
    assert disk[probe.key] == probe.as_record()
    assert probe_forward_chunk(model=model, sample=x, cap=6) == probe  # from disk: no forwards
    assert model.images == seen


def test_keys_separate_input_sizes_and_caps() -> None:
    model = Counting()
    a = probe_forward_chunk(model=model, sample=torch.rand(1, 3, 8, 8), cap=2, min_time_s=0.0, repeats=1)
    b = probe_forward_chunk(model=model, sample=torch.rand(1, 3, 9, 8), cap=2, min_time_s=0.0, repeats=1)
    c = probe_forward_chunk(model=model, sample=torch.rand(1, 3, 8, 8), cap=3, min_time_s=0.0, repeats=1)
    assert len({a.key, b.key, c.key}) == 3
    with pytest.raises(ValueError, match="cap must be >= 1"):
        probe_forward_chunk(model=model, sample=torch.rand(1, 3, 8, 8), cap=0)


def test_thread_probe_restores_the_thread_count() -> None:
    before = torch.get_num_threads()
    probe = probe_forward_chunk(model=Counting(), sample=torch.rand(1, 3, 8, 8), cap=2, threads=True, min_time_s=0.0, repeats=1)
    assert torch.get_num_threads() == before
    assert 1 <= probe.threads <= before


def test_forward_chunk_modes() -> None:
    model, x = Counting(), torch.rand(2, 3, 8, 8)
    assert forward_chunk(model=model, images=x, total=104, max_forward_batch=64, forward_batch="max") == 52
    assert forward_chunk(model=model, images=x, total=104, max_forward_batch=64, forward_batch=7) == 7
    assert forward_chunk(model=model, images=x, total=5, max_forward_batch=64, forward_batch=7) == 5
    auto = forward_chunk(model=model, images=x, total=10, max_forward_batch=4, forward_batch="auto")
    assert 1 <= auto <= 4
    with pytest.raises(ValueError, match="forward_batch must be"):
        forward_chunk(model=model, images=x, total=10, max_forward_batch=4, forward_batch="fast")


def test_probed_chunk_gives_the_same_curve() -> None:
    model = Counting().double()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 16, 16, generator=g, dtype=torch.float64)
    maps = torch.rand(3, 1, 16, 16, generator=g, dtype=torch.float64)
    t = ClassLogit(torch.tensor([0, 1, 2]))
    _, ref = perturbation_curves(model=model, images=x, maps=maps, target=t, mode="deletion", steps=4, forward_batch="max")
    _, auto = perturbation_curves(model=model, images=x, maps=maps, target=t, mode="deletion", steps=4, forward_batch="auto")
    _, one = perturbation_curves(model=model, images=x, maps=maps, target=t, mode="deletion", steps=4, forward_batch=1)
    torch.testing.assert_close(auto, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(one, ref, rtol=0, atol=1e-12)
    assert isinstance(probe_forward_chunk(model=model, sample=x[:1], cap=15), ForwardProbe)


def test_thread_probe_measures_chunks_again_at_the_winning_count(monkeypatch) -> None:  # noqa: ANN001
    import attrbench.probe as probe_module

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        measured_at: list[int] = []
        measure = probe_module._measure

        def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            measured_at.append(torch.get_num_threads())
            return measure(*args, **kwargs)

        monkeypatch.setattr(probe_module, "_measure", spy)
        monkeypatch.setattr(probe_module, "_best_threads", lambda *a, **k: 1)  # one thread "wins"
        probe = probe_forward_chunk(model=Counting(), sample=torch.rand(1, 3, 8, 8), cap=4, threads=True, min_time_s=0.0, repeats=1)
        assert measured_at == [2, 1]  # chunk sizes at the start count, then again at the winner
        assert probe.threads == 1 and torch.get_num_threads() == 2
        assert probe.thread_images_per_s[str(probe.chunk)] == max(probe.thread_images_per_s.values())
    finally:
        torch.set_num_threads(before)


class ThreadSpy(Counting):
    """:class:`Counting` that also records the thread count and batch size of every forward."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, int]] = []

    def forward(self, x: Tensor) -> Tensor:
        self.seen.append((torch.get_num_threads(), x.shape[0]))
        return super().forward(x)


def test_auto_curves_run_at_the_probed_thread_count(monkeypatch) -> None:  # noqa: ANN001
    import attrbench.metrics.curve_engine as engine

    before = torch.get_num_threads()
    other = 1 if before > 1 else 2
    probed = ForwardProbe(key="k", chunk=3, threads=other)
    monkeypatch.setattr(engine, "probe_forward_chunk", lambda **kwargs: probed if kwargs.get("threads") else None)
    model = ThreadSpy().double()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 16, 16, generator=g, dtype=torch.float64)
    maps = torch.rand(2, 1, 16, 16, generator=g, dtype=torch.float64)
    t = ClassLogit(torch.tensor([0, 1]))
    try:
        _, auto = perturbation_curves(model=model, images=x, maps=maps, target=t, mode="deletion", steps=4,
                                      forward_batch="auto", engine="full")  # fmt: skip
        assert {n for n, _ in model.seen} == {other} and max(b for _, b in model.seen) == 3
        assert torch.get_num_threads() == before
        _, three = perturbation_curves(model=model, images=x, maps=maps, target=t, mode="deletion", steps=4,
                                       forward_batch=3, engine="full")  # fmt: skip
        torch.testing.assert_close(auto, three, rtol=0, atol=0)
    finally:
        torch.set_num_threads(before)


class MostlySlow(Counting):
    """:class:`Counting` whose forwards take 20 ms except every third one (a core shared with another process)."""

    def forward(self, x: Tensor) -> Tensor:
        if self.images % (3 * x.shape[0]) != 0:
            time.sleep(0.02)
        return super().forward(x)


def test_rate_is_the_typical_forward_not_the_fastest() -> None:
    import attrbench.probe as probe_module

    rate = probe_module._rate(MostlySlow(), torch.rand(2, 3, 4, 4), repeats=9, min_time_s=0.0, warm=False)
    assert rate < 2 / 0.015  # the median forward sleeps 20 ms; the fastest (no sleep) would give > 1000 images/s
