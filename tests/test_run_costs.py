"""A run's own costs: truths computed once, MPRT re-explaining only scored rows, time per phase."""

from __future__ import annotations

import json

import pytest
import torch

from attrbench.phases import PhaseClock
from attrbench.testing.toys import ToyInputXGradient, toy_model, toy_samples
from attrbench.truth_cache import TruthCache

TOYS = "attrbench.testing.toys"


def test_gt_truth_computed_once_per_batch_and_baseline(tmp_path) -> None:
    """gt over 3 methods with the same baseline: patch_logits runs twice per batch (x and b), not 6 times."""
    from attrbench.runner import evaluate

    model = toy_model()
    calls: list[int] = []
    original = model.patch_logits

    def counting(images: torch.Tensor) -> torch.Tensor:
        calls.append(images.shape[0])
        return original(images)

    model.patch_logits = counting  # type: ignore[method-assign]
    df = evaluate(methods=["ig[n_steps=4]", "ig[n_steps=8]", "ig[n_steps=16]"], model=model, dataset=toy_samples(5),
                  metrics=["gt"], batch_size=3, n_samples=5, out=tmp_path / "run")  # fmt: skip
    assert (df.status == "ok").all() and set(df.method) == {"ig[n_steps=4]", "ig[n_steps=8]", "ig[n_steps=16]"}
    assert calls == [3, 3, 2, 2]  # batch 0: images, baseline; batch 1: images, baseline


def test_cached_truth_equals_the_uncached_one(tmp_path) -> None:
    from attrbench.runner import evaluate

    kwargs = dict(methods=["ig[n_steps=4]", "ig[n_steps=8]"], dataset=toy_samples(4), metrics=["gt"], batch_size=2, n_samples=4)
    cached = evaluate(model=toy_model(), out=tmp_path / "a", **kwargs)
    import attrbench.context as context

    original = context.TruthCache
    try:  # a cache that never hits: every method computes its own truth
        context.TruthCache = lambda: TruthCache(max_entries=1)  # type: ignore[assignment,misc]
        plain = evaluate(model=toy_model(), out=tmp_path / "b", **kwargs)
    finally:
        context.TruthCache = original  # type: ignore[misc]
    assert cached.value.tolist() == plain.value.tolist()


def test_truth_cache_is_bounded_and_counts() -> None:
    cache = TruthCache(max_entries=2)
    assert cache.get("a", lambda: 1) == 1 and cache.get("a", lambda: 2) == 1
    cache.get("b", lambda: 3)
    cache.get("c", lambda: 4)  # evicts "a", the least recently used
    assert cache.get("a", lambda: 5) == 5
    assert (cache.computed, cache.hits) == (4, 1)
    with pytest.raises(ValueError, match="max_entries"):
        TruthCache(max_entries=0)


def test_mprt_re_explains_only_the_scored_rows(tmp_path, monkeypatch) -> None:
    from attrbench.runner import evaluate

    sizes: list[int] = []
    original = ToyInputXGradient.attribute

    def recording(self, inputs, *, target):  # type: ignore[no-untyped-def]
        sizes.append(inputs.shape[0])
        return original(self, inputs, target=target)

    monkeypatch.setattr(ToyInputXGradient, "attribute", recording)
    df = evaluate(methods=[f"{TOYS}:ToyInputXGradient"], model=toy_model(), dataset=toy_samples(4),
                  metrics=["randomisation[max_samples=1,max_stages=2]"], batch_size=3, n_samples=4,
                  sampling="first", out=tmp_path / "run")  # fmt: skip
    assert sizes == [3, 1, 1, 1]  # batch 0, its one scored sample on 2 randomised models, batch 1
    assert (df.status == "ok").all() and set(df.sample_id) == {"s000"}


def test_time_per_phase_is_stored_and_printed(tmp_path) -> None:
    from attrbench.runner import evaluate

    evaluate(methods=[f"{TOYS}:ToyInputXGradient"], model=toy_model(), dataset=toy_samples(3),
             metrics=["gt", "deletion[steps=4]"], batch_size=2, n_samples=3, out=tmp_path / "run")  # fmt: skip
    record = json.loads((tmp_path / "run" / "config.json").read_text())["phase_seconds"]
    label = f"{TOYS}:ToyInputXGradient"
    assert list(record["phases"])[:2] == ["load", f"method {label}"]
    assert {"metric gt", "metric deletion[steps=4]", "write units", "merge and summary"} <= set(record["phases"])
    assert all(v >= 0 for v in record["phases"].values()) and record["images"] == {label: 3}
    assert record["per_image"][label] > 0
    lines = PhaseClock.lines(record)
    assert lines[0] == "time per phase (wall seconds):" and lines[-1].startswith(f"cost of {label}: ")


def test_phase_clock_accumulates() -> None:
    clock = PhaseClock()
    clock.add("method m", 1.0, method="m", images=4)
    clock.add("metric gt", 0.5, method="m")
    clock.add("method m", 1.0, method="m", images=4)
    clock.add("load", 2.0)
    assert clock.seconds == {"method m": 2.0, "metric gt": 0.5, "load": 2.0}
    assert clock.per_image() == {"m": 2.5 / 8}
    assert clock.as_record()["total"] == 4.5


def test_forward_batch_is_measured_once_and_recorded(tmp_path) -> None:
    from attrbench.probe import clear_probe_cache
    from attrbench.runner import evaluate

    kwargs = dict(methods=[f"{TOYS}:ToyInputXGradient"], dataset=toy_samples(3), metrics=["deletion[steps=4]"],
                  batch_size=2, n_samples=3, max_forward_batch=4)  # fmt: skip
    clear_probe_cache()
    auto = evaluate(model=toy_model(), out=tmp_path / "auto", **kwargs)
    stored = json.loads((tmp_path / "auto" / "config.json").read_text())
    probe = stored["forward_probe"]
    assert stored["forward_batch"] == probe["chunk"] and 1 <= probe["chunk"] <= 4
    assert "4" in probe["images_per_s"] and set(probe["images_per_s"]) <= {"1", "2", "4"}  # the cap is always timed
    assert "forward_batch" not in stored["fingerprint"]
    one = evaluate(model=toy_model(), out=tmp_path / "one", forward_batch=1, **kwargs)
    stored = json.loads((tmp_path / "one" / "config.json").read_text())
    assert stored["forward_batch"] == 1 and stored["forward_probe"] is None
    most = evaluate(model=toy_model(), out=tmp_path / "max", forward_batch="max", **kwargs)
    assert json.loads((tmp_path / "max" / "config.json").read_text())["forward_batch"] == "max"
    for other in (one, most):  # the chunk changes speed only (float32 reassociation, measured <= 4e-6 relative)
        assert other.metric.tolist() == auto.metric.tolist()
        assert other.value.to_numpy() == pytest.approx(auto.value.to_numpy(), rel=2e-5, abs=1e-6, nan_ok=True)


@pytest.mark.parametrize("value", [0, -2, "fast", True, 2.5])
def test_forward_batch_refuses_other_values(value: object, tmp_path) -> None:
    from attrbench.errors import OptionError
    from attrbench.probe import parse_forward_batch
    from attrbench.runner import evaluate

    with pytest.raises(OptionError, match="--forward-batch must be 'auto', 'max' or an integer >= 1"):
        parse_forward_batch(value)
    with pytest.raises(OptionError, match="--forward-batch"):
        evaluate(methods=[f"{TOYS}:ToyInputXGradient"], model=toy_model(), dataset=toy_samples(1),
                 forward_batch=value, out=tmp_path / "x")  # fmt: skip
    assert parse_forward_batch(" AUTO ") == "auto" and parse_forward_batch("8") == 8


def test_amp_is_refused_on_cpu_and_channels_last_keeps_values(tmp_path) -> None:
    from attrbench.errors import OptionError
    from attrbench.runner import evaluate

    with pytest.raises(OptionError, match="--amp needs a CUDA device"):
        evaluate(methods=[f"{TOYS}:ToyInputXGradient"], model=toy_model(), dataset=toy_samples(1), amp=True,
                 device="cpu", out=tmp_path / "amp")  # fmt: skip
    kwargs = dict(methods=[f"{TOYS}:ToyInputXGradient"], dataset=toy_samples(3), metrics=["gt", "deletion[steps=4]"],
                  batch_size=2, n_samples=3, forward_batch=2)  # fmt: skip
    plain = evaluate(model=toy_model(), out=tmp_path / "plain", **kwargs)
    last = evaluate(model=toy_model(), out=tmp_path / "last", channels_last=True, **kwargs)
    assert last.metric.tolist() == plain.metric.tolist()
    assert last.value.to_numpy() == pytest.approx(plain.value.to_numpy(), rel=1e-5, abs=1e-6, nan_ok=True)
    stored = json.loads((tmp_path / "last" / "config.json").read_text())
    assert stored["fingerprint"]["amp"] is False and "channels_last" not in stored["fingerprint"]


def test_deletion_on_a_sample_subset_equals_the_full_run_there(tmp_path) -> None:
    from attrbench.runner import evaluate

    kwargs = dict(methods=[f"{TOYS}:ToyInputXGradient"], dataset=toy_samples(5), batch_size=2, n_samples=5, forward_batch=2,
                  sampling="first")
    full = evaluate(model=toy_model(), metrics=["deletion[steps=4]"], out=tmp_path / "full", **kwargs)
    some = evaluate(model=toy_model(), metrics=["deletion[steps=4,max_samples=3]"], out=tmp_path / "some", **kwargs)
    assert sorted(set(some.sample_id)) == ["s000", "s001", "s002"] and (some.status == "ok").all()
    kept = full[full.sample_id.isin(["s000", "s001", "s002"])].set_index(["sample_id", "metric"]).value.sort_index()
    got = some.assign(metric=some.metric.str.replace("[max_samples=3]", "", regex=False))
    got = got.set_index(["sample_id", "metric"]).value.sort_index()
    assert list(got.index) == list(kept.index) and got.tolist() == pytest.approx(kept.tolist(), rel=1e-6, abs=1e-9)


class _ThreadRecorder(ToyInputXGradient):
    """:class:`ToyInputXGradient` that records the CPU thread count it runs at."""

    seen: list[int] = []

    def attribute(self, inputs: torch.Tensor, *, target):  # noqa: ANN001, ANN201
        _ThreadRecorder.seen.append(torch.get_num_threads())
        return super().attribute(inputs, target=target)


def test_auto_threads_take_the_fastest_count_for_the_whole_run(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """Thread counts timed at the start (here faked: 1 thread twice as fast as 2) set the run's count, then restored."""
    import attrbench.probe as probe_module
    from attrbench.runner import evaluate

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    timed: list[int] = []

    def fake_rates(model, x, *, min_time_s, counts=None):  # noqa: ANN001, ANN202
        timed.append(x.shape[0])
        return {1: 10.0, 2: 5.0}

    monkeypatch.setattr(probe_module, "thread_rates", fake_rates)
    _ThreadRecorder.seen = []
    kwargs = dict(methods=[_ThreadRecorder], dataset=toy_samples(3), metrics=["deletion[steps=4]"], batch_size=2,
                  n_samples=3, forward_batch=2)  # fmt: skip
    try:
        auto = evaluate(model=toy_model(), out=tmp_path / "auto", **kwargs)
        stored = json.loads((tmp_path / "auto" / "config.json").read_text())
        assert timed == [probe_module.THREAD_PROBE_IMAGES]
        assert _ThreadRecorder.seen == [1, 1] and torch.get_num_threads() == 2
        assert stored["torch_threads"] == 1 and stored["thread_images_per_s"] == {"1": 10.0, "2": 5.0}
        assert "threads" not in stored["fingerprint"]
        _ThreadRecorder.seen = []
        two = evaluate(model=toy_model(), out=tmp_path / "two", threads=2, **kwargs)
        stored = json.loads((tmp_path / "two" / "config.json").read_text())
        assert timed == [probe_module.THREAD_PROBE_IMAGES]  # a given count is not timed
        assert _ThreadRecorder.seen == [2, 2] and stored["torch_threads"] == 2 and stored["thread_images_per_s"] == {}
        assert two.value.to_numpy() == pytest.approx(auto.value.to_numpy(), rel=1e-5, abs=1e-6, nan_ok=True)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("value", [0, -1, "many", True, 1.5])
def test_threads_refuse_other_values(value: object, tmp_path) -> None:
    from attrbench.errors import OptionError
    from attrbench.probe import parse_threads
    from attrbench.runner import evaluate

    with pytest.raises(OptionError, match="--threads must be 'auto' or an integer >= 1"):
        parse_threads(value)
    with pytest.raises(OptionError, match="--threads"):
        evaluate(methods=[f"{TOYS}:ToyInputXGradient"], model=toy_model(), dataset=toy_samples(1), threads=value,
                 out=tmp_path / "x")  # fmt: skip
    assert parse_threads(" Auto ") == "auto" and parse_threads("3") == 3


@pytest.mark.parametrize(("rates", "chosen"), [({1: 10.0, 2: 5.0}, 1), ({1: 6.0, 2: 5.0}, 2), ({1: 3.0, 2: 5.0}, 2)])
def test_auto_threads_leave_the_current_count_only_for_a_clear_margin(monkeypatch, rates, chosen) -> None:  # noqa: ANN001
    import attrbench.probe as probe_module

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    monkeypatch.setattr(probe_module, "thread_rates", lambda *a, **k: rates)
    try:
        got, recorded = probe_module.run_threads(model=toy_model(), input_shape=(3, 8, 8), device=torch.device("cpu"),
                                                 dtype=torch.float64, setting="auto")  # fmt: skip
        assert got == chosen and recorded == {str(t): r for t, r in rates.items()}
    finally:
        torch.set_num_threads(before)
