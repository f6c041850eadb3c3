"""Cascading randomisation on a tiny BagNet: stages, model-independent vs model-dependent maps."""

from __future__ import annotations

import torch

from attrbench.api import ClassLogit
from attrbench.metrics.randomisation import Randomisation, randomisation_stages
from attrbench.testing.models import tiny_bagnet
from attrbench.testing.toys import ToyInputXGradient, make_context


def test_stages_top_down_for_bagnet() -> None:
    model = tiny_bagnet(9)
    names = [s for s, _ in randomisation_stages(model)]
    assert names == ["fc", "layer4", "layer3", "layer2", "layer1", "stem"]
    assert randomisation_stages(model)[-1][1] == ["net.conv1", "net.conv2", "net.bn1"]


def test_model_independent_map_fails_the_sanity_check() -> None:
    model = tiny_bagnet(9, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 48, 48, generator=gen, dtype=torch.float64)
    edge = x.mean(1, keepdim=True)  # ignores the model entirely
    ctx = make_context(model=model, images=x, labels=torch.tensor([0, 1, 2]), maps=edge, explain=lambda m: edge)
    res = Randomisation(max_samples=2).compute(ctx)
    assert res.present.tolist() == [True, True, False]
    for name, v in res.values.items():
        torch.testing.assert_close(v[:2], torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-12, msg=name)


def test_gradient_map_changes_and_original_model_is_untouched() -> None:
    model = tiny_bagnet(9, dtype=torch.float64)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 48, 48, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 1])

    def explain(m):
        return ToyInputXGradient(m, spec=model.spec)(x, target=ClassLogit(labels)).sum(1, keepdim=True)

    maps = explain(model)
    ctx = make_context(model=model, images=x, labels=labels, maps=maps, explain=explain)
    res = Randomisation(max_stages=2).compute(ctx)
    assert set(res.values) == {"mprt_spearman@fc", "mprt_ssim@fc", "mprt_spearman@layer4", "mprt_ssim@layer4"}
    assert set(res.values) == set(Randomisation(max_stages=2).value_names(model=model, batch=ctx.batch))
    assert (res.values["mprt_spearman@layer4"] < 0.9).all()
    assert (res.values["mprt_ssim@layer4"] < 0.9).all()
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    again = Randomisation(max_stages=2).compute(ctx)  # seeded re-initialisation: identical values
    for name in res.values:
        assert torch.equal(res.values[name], again.values[name])


def test_only_scored_samples_are_re_explained() -> None:
    model = tiny_bagnet(9, dtype=torch.float64)
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(4, 3, 48, 48, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 3])
    seen: list[int] = []

    def explain(m, rows=None):  # noqa: ANN001, ANN202 - the runner's explain with a row subset
        xs, ls = (x, labels) if rows is None else (x[rows], labels[rows])
        seen.append(xs.shape[0])
        return ToyInputXGradient(m, spec=model.spec)(xs, target=ClassLogit(ls)).sum(1, keepdim=True)

    maps = explain(model)
    ctx = make_context(model=model, images=x, labels=labels, maps=maps, explain=explain)
    ctx.sample_index = torch.tensor([5, 0, 7, 1])
    seen.clear()
    res = Randomisation(max_samples=2, max_stages=2).compute(ctx)
    assert seen == [2, 2]  # two stages, two scored samples each
    assert res.present.tolist() == [False, True, False, True]
    # the same values as re-explaining the whole batch and keeping the scored rows
    whole = make_context(model=model, images=x, labels=labels, maps=maps, explain=lambda m: explain(m))
    whole.sample_index = ctx.sample_index
    full = Randomisation(max_samples=2, max_stages=2).compute(whole)
    for name, v in res.values.items():
        assert torch.isnan(v[[0, 2]]).all()
        torch.testing.assert_close(v[[1, 3]], full.values[name][[1, 3]], rtol=0, atol=1e-12, msg=name)


def test_randomised_models_come_from_the_run_seed(tmp_path) -> None:
    """``ig`` and ``ig[n_steps=32]`` are the same computation: identical MPRT values in one run."""
    from attrbench.runner import evaluate
    from attrbench.testing.toys import toy_model, toy_samples

    df = evaluate(
        methods=["ig", "ig[n_steps=32]"], model=toy_model(), dataset=toy_samples(3), metrics=["randomisation[max_stages=2]"],
        batch_size=2, n_samples=3, out=tmp_path / "run",
    )  # fmt: skip
    df = df[df.status == "ok"]
    a = df[df.method == "ig"].set_index(["sample_id", "metric"]).value.sort_index()
    b = df[df.method == "ig[n_steps=32]"].set_index(["sample_id", "metric"]).value.sort_index()
    assert len(a) == 8 and list(a.index) == list(b.index)  # 2 scored samples x 2 stages x 2 values
    assert a.to_numpy().tolist() == b.to_numpy().tolist()


def test_noise_floor_of_two_independent_randomisations() -> None:
    """floor=True: a map that only depends on the input (not the weights) sits at similarity 1 with
    itself on both randomised models, so its floor is 1; a weight-driven map gets a floor below 1."""
    import torch as _torch

    from attrbench.metrics.randomisation import Randomisation as _R
    from attrbench.testing.models import tiny_bagnet
    from attrbench.testing.toys import make_context, toy_samples

    model = tiny_bagnet(9, input_size=(48, 48))
    samples = toy_samples(2)
    images = _torch.stack([s.image for s in samples]).double()
    labels = _torch.tensor([s.label for s in samples])
    maps = images.mean(1, keepdim=True)
    metric = _R(max_samples=2, max_stages=1, floor=True)
    same = metric.compute(make_context(model=model, images=images, labels=labels, maps=maps, explain=lambda m: maps))
    _torch.testing.assert_close(same.values["mprt_floor_spearman"], _torch.ones(2, dtype=_torch.float64), rtol=0, atol=1e-12)

    def weight_map(m):  # noqa: ANN001, ANN202 - the fc weights of the explained class, tiled
        w = m.net.fc.weight[labels].sum(1).double().detach()
        return (maps * w.view(-1, 1, 1, 1) + _torch.rand(2, 1, 48, 48, generator=_torch.Generator().manual_seed(int(1e6 * float(w[0]))), dtype=_torch.float64))

    other = metric.compute(make_context(model=model, images=images, labels=labels, maps=maps, explain=weight_map))
    assert bool((other.values["mprt_floor_spearman"] < 0.99).all())
    assert set(same.values) == set(metric.value_names(model=model, batch=None))  # type: ignore[arg-type]
