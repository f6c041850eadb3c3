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
