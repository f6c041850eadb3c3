"""Memory-aware execution (issue 13, item 1): budget, probe, chunk sizes, OOM halving, peak record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from attrbench.api import ClassLogit, ModelSpec
from attrbench.errors import OptionError
from attrbench.memory import (
    DEFAULT_FRACTION,
    SAFETY,
    chunk_for,
    forward_cap,
    parse_budget,
    plan_memory,
    probe_memory,
    with_oom_halving,
)
from attrbench.methods import get_method
from attrbench.testing.models import tiny_bagnet


class Recorder(nn.Module):
    """Records every forward's batch size; raises a simulated CUDA out-of-memory error above ``oom_above``."""

    def __init__(self, inner: nn.Module, *, oom_above: int | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.oom_above = oom_above
        self.sizes: list[int] = []

    def forward(self, x: Tensor) -> Tensor:
        self.sizes.append(x.shape[0])
        if self.oom_above is not None and x.shape[0] > self.oom_above:
            raise torch.cuda.OutOfMemoryError(f"simulated: {x.shape[0]} images > {self.oom_above}")
        return self.inner(x)


class Square(nn.Module):
    """f(x) = sum(x * x): autograd saves x once (both operands share its storage)."""

    def forward(self, x: Tensor) -> Tensor:
        return (x * x).flatten(1).sum(1, keepdim=True)


def _inputs(b: int = 3, size: int = 48) -> Tensor:
    return torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_parse_budget_sizes_fractions_and_errors() -> None:
    avail = 8 * 10**9
    assert parse_budget("4GB", available=avail) == 4 * 10**9
    assert parse_budget("512MiB", available=avail) == 512 * 2**20
    assert parse_budget(3000, available=avail) == 3000
    assert parse_budget("0.25", available=avail) == 2 * 10**9
    assert parse_budget(None, available=avail) == int(avail * DEFAULT_FRACTION["cpu"])
    assert parse_budget(None, available=avail, device_type="cuda") == int(avail * DEFAULT_FRACTION["cuda"])
    for bad in ("lots", "4XB", "1.5", "0GB"):
        with pytest.raises(OptionError, match="--memory-budget"):
            parse_budget(bad, available=avail)


def test_chunk_for_is_the_largest_chunk_within_the_budget() -> None:
    # SAFETY * (100 + n * 10) <= 300 * SAFETY / 1.5 ... with SAFETY = 1.5: n <= (200 - 100) / 10 = 10
    assert SAFETY == 1.5
    assert chunk_for(fixed=100, per_image=10, budget=300) == 10
    assert SAFETY * (100 + 10 * 10) <= 300 < SAFETY * (100 + 11 * 10)
    assert chunk_for(fixed=100, per_image=10, budget=300, cap=4) == 4
    assert chunk_for(fixed=10**9, per_image=10, budget=300) == 1  # nothing fits: one image at a time
    assert forward_cap(64, None) == 64


def test_probe_counts_saved_tensors_in_closed_form() -> None:
    """Square on (n, 3, 8, 8) float32: saved x (768 n bytes) + input + its gradient + output (4 n) per pass
    with gradients; without, the input plus the largest module (inputs + output = 772 n)."""
    probe = probe_memory(model=Square(), sample=torch.rand(1, 3, 8, 8))
    assert probe.source == "cpu-count" and probe.input_shape == (3, 8, 8)
    assert (probe.grad_fixed, probe.grad_per_image) == (0, 3 * 768 + 4)
    assert (probe.forward_fixed, probe.forward_per_image) == (0, 768 + 772)


def test_plan_never_exceeds_the_budget_on_cpu() -> None:
    model = tiny_bagnet(9, num_classes=5, width=4, seed=0, dtype=torch.float32, input_size=(48, 48))
    sample = torch.rand(1, 3, 48, 48)
    for budget in (2_000_000, 20_000_000, 200_000_000):
        plan = plan_memory(model=model, sample=sample, budget=budget)
        p = plan.probe
        assert plan.budget == budget and plan.pass_images >= 1 and plan.forward_images >= 1
        assert SAFETY * (p.grad_fixed + plan.pass_images * p.grad_per_image) <= budget or plan.pass_images == 1
        assert SAFETY * (p.grad_fixed + (plan.pass_images + 1) * p.grad_per_image) > budget
        assert SAFETY * (p.forward_fixed + plan.forward_images * p.forward_per_image) <= budget


@pytest.mark.parametrize("limit", [1, 2, 5, 40])
def test_ig_passes_stay_within_the_limit_and_give_the_same_map(limit: int) -> None:
    model = tiny_bagnet(17, dtype=torch.float64)
    x, target = _inputs(), ClassLogit(torch.tensor([0, 1, 2]))
    ig = get_method("ig")
    free = ig(model, spec=model.spec, n_steps=32).attribute(x, target=target)
    counted = Recorder(model)
    limited = ig(counted, spec=model.spec, n_steps=32)
    limited.limit_memory(pass_images=limit, forward_images=None)
    out = limited.attribute(x, target=target)
    assert max(counted.sizes) <= limit
    torch.testing.assert_close(out, free, rtol=0, atol=1e-12)


def test_gpu_out_of_memory_halves_the_ig_pass_and_retries() -> None:
    """Simulated: a forward of more than 6 images raises torch.cuda.OutOfMemoryError."""
    model = tiny_bagnet(17, dtype=torch.float64)
    x, target = _inputs(), ClassLogit(torch.tensor([0, 1, 2]))
    ig = get_method("ig")
    free = ig(model, spec=model.spec, n_steps=32).attribute(x, target=target)
    counted = Recorder(model, oom_above=6)
    method = ig(counted, spec=model.spec, n_steps=32, steps_per_pass=16)  # passes of 3 x 16 = 48 images
    method.limit_memory(pass_images=64, forward_images=None)
    out = method.attribute(x, target=target)
    torch.testing.assert_close(out, free, rtol=0, atol=1e-12)
    # 64 -> min(3 x 16, 64) = 48 images fail; 32 -> 30 fail; 16 -> 15 fail; 8 -> passes of 6 succeed
    assert method.pass_images == 8
    assert [s for s in counted.sizes if s > 6] == [48, 30, 15]
    counted.sizes.clear()
    method.attribute(x, target=target)  # the next batch starts from the halved limit
    assert max(counted.sizes) <= 6


def test_with_oom_halving_gives_up_at_one_and_ignores_other_errors() -> None:
    tried: list[int] = []

    def always_oom(n: int) -> int:
        tried.append(n)
        raise torch.cuda.OutOfMemoryError("simulated")

    with pytest.raises(torch.cuda.OutOfMemoryError):
        with_oom_halving(always_oom, 8)
    assert tried == [8, 4, 2, 1]

    def other(n: int) -> int:
        tried.append(n)
        raise ValueError("not memory")

    tried.clear()
    with pytest.raises(ValueError):
        with_oom_halving(other, 8)
    assert tried == [8]


def test_occlusion_and_noise_methods_follow_the_limits() -> None:
    model = tiny_bagnet(17, dtype=torch.float64)
    x, target = _inputs(), ClassLogit(torch.tensor([0, 1, 2]))
    occ = get_method("occlusion")
    free = occ(model, spec=model.spec).attribute(x, target=target)
    counted = Recorder(model)
    limited = occ(counted, spec=model.spec)
    limited.limit_memory(pass_images=None, forward_images=4)
    torch.testing.assert_close(limited.attribute(x, target=target), free, rtol=0, atol=1e-12)
    assert max(counted.sizes) <= 4
    for name in ("smoothgrad", "vargrad", "gradientshap"):
        counted = Recorder(model, oom_above=5)
        method = get_method(name)(counted, spec=model.spec)
        method.limit_memory(pass_images=12, forward_images=None)
        out = method.attribute(x, target=target)
        assert torch.isfinite(out).all() and out.shape == x.shape, name
        assert method.pass_images == 3 and max(counted.sizes[-3:]) <= 5, name  # 12 -> 6 -> 3


def test_run_records_the_plan_and_the_peak(tmp_path: Path) -> None:
    from attrbench import evaluate
    from attrbench.testing.toys import toy_model, toy_samples

    records = evaluate(methods=["ig", "saliency"], model=toy_model(), dataset=toy_samples(4), metrics=["runtime"],
                       batch_size=2, out=str(tmp_path / "run"), memory_budget="0.5")  # fmt: skip
    assert (records["status"] == "ok").all()
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    memory = config["memory"]
    assert memory["budget"] == int(memory["available"] * 0.5)
    assert memory["peak_source"] == "ru_maxrss" and memory["peak_bytes"] > 0
    assert memory["pass_images"] >= 1 and memory["probe"]["source"] == "cpu-count"
    assert "memory_budget" not in config["fingerprint"]  # a runtime option: resuming on another machine works
    with pytest.raises(OptionError, match="--memory-budget"):
        evaluate(methods=["ig"], model=toy_model(), dataset=toy_samples(2), metrics=["runtime"],
                 out=str(tmp_path / "bad"), memory_budget="plenty")  # fmt: skip


def test_rebound_methods_keep_the_limits() -> None:
    from attrbench.context import PreparedMethod

    model = tiny_bagnet(9, dtype=torch.float64)
    ig = get_method("ig")
    inst = ig(model, spec=model.spec)
    inst.limit_memory(pass_images=3, forward_images=7)
    prepared = PreparedMethod("ig", ig, {}, {}, inst)
    other = prepared.rebind(tiny_bagnet(9, dtype=torch.float64, seed=1))
    assert (other.pass_images, other.forward_images) == (3, 7)
    assert "pass_images" not in inst.config  # the machine's limit, not a hyperparameter


def test_spec_without_limits_behaves_as_before() -> None:
    """Outside a run (no plan) the methods keep their own batching (issue 17's steps_per_pass)."""
    model = tiny_bagnet(17, dtype=torch.float64)
    counted = Recorder(model)
    get_method("ig")(counted, spec=ModelSpec(name="x"), n_steps=32, steps_per_pass=16).attribute(_inputs(), target=ClassLogit(torch.tensor([0, 1, 2])))
    assert counted.sizes == [48, 48]
