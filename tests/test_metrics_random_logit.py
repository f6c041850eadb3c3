"""Random-logit test on a linear model whose per-class Input x Gradient maps are known in closed form."""

from __future__ import annotations

import pytest
import torch
from scipy import stats
from torch import Tensor, nn

from attrbench.api import ClassLogit, ModelSpec
from attrbench.metrics import get_metric
from attrbench.metrics.functional import minmax, ssim
from attrbench.metrics.random_logit import RandomLogit, other_classes
from attrbench.testing.toys import ToyInputXGradient, make_context


class Linear(nn.Module):
    """logit_c(x) = sum_{k,i,j} W[c, k, i, j] x[k, i, j]: Input x Gradient for class c is W[c] * x."""

    def __init__(self, weight: Tensor) -> None:
        super().__init__()
        self.weight = weight
        self.spec = ModelSpec(name="linear", input_size=tuple(weight.shape[-2:]), num_outputs=weight.shape[0])

    def forward(self, x: Tensor) -> Tensor:
        return torch.einsum("bkij,ckij->bc", x, self.weight)


def _context(weight: Tensor, x: Tensor, labels: Tensor):  # noqa: ANN202
    model = Linear(weight)
    method = ToyInputXGradient(model, spec=model.spec)
    maps = method(x, target=ClassLogit(labels)).sum(dim=1, keepdim=True)
    ctx = make_context(model=model, images=x, labels=labels, maps=maps)
    ctx.explain_target = lambda target: method(x, target=target).sum(dim=1, keepdim=True)
    return ctx


def test_two_classes_against_the_closed_form() -> None:
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(2, 3, 12, 12, generator=gen, dtype=torch.float64)
    x = torch.rand(3, 3, 12, 12, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 1, 0])
    res = RandomLogit().compute(_context(weight, x, labels)).values
    # with two classes the other class is the one not explained: maps (W[c] x) summed over channels
    own = (weight[labels] * x).sum(dim=1)
    other = (weight[1 - labels] * x).sum(dim=1)
    expected = [stats.spearmanr(own[i].flatten().numpy(), other[i].flatten().numpy()).statistic for i in range(3)]
    torch.testing.assert_close(res["random_logit_spearman"], torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-12)
    expected_ssim = ssim(minmax(own.unsqueeze(1)), minmax(other.unsqueeze(1)))
    torch.testing.assert_close(res["random_logit_ssim"], expected_ssim, rtol=0, atol=1e-12)


def test_class_independent_and_opposite_maps() -> None:
    gen = torch.Generator().manual_seed(1)
    w0 = torch.randn(1, 3, 10, 10, generator=gen, dtype=torch.float64)
    x = torch.rand(2, 3, 10, 10, generator=gen, dtype=torch.float64)
    labels = torch.zeros(2, dtype=torch.long)
    # class 1 weighs every pixel like class 0, only twice as much: the map does not tell the classes apart
    same = RandomLogit().compute(_context(torch.cat([w0, 2 * w0]), x, labels)).values
    torch.testing.assert_close(same["random_logit_spearman"], torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(same["random_logit_ssim"], torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-9)
    # class 1 = -class 0: the map flips, rank correlation -1
    flipped = RandomLogit().compute(_context(torch.cat([w0, -w0]), x, labels)).values
    torch.testing.assert_close(flipped["random_logit_spearman"], -torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-12)


def test_other_class_is_seeded_per_sample_and_never_the_label() -> None:
    labels = torch.arange(40) % 5
    index = torch.arange(40)
    drawn = other_classes(labels, index, num_classes=5, seed=3)
    assert (drawn != labels).all() and ((drawn >= 0) & (drawn < 5)).all()
    assert len(set(drawn.tolist())) == 5  # every class is drawn for some sample
    # a sample's draw does not depend on the batch it is in
    assert torch.equal(other_classes(labels[7:9], index[7:9], num_classes=5, seed=3), drawn[7:9])
    with pytest.raises(ValueError, match="2 classes"):
        other_classes(labels, index, num_classes=1, seed=0)


def test_registered_and_needs_a_re_explainer() -> None:
    assert get_metric("random_logit") is RandomLogit
    gen = torch.Generator().manual_seed(2)
    weight = torch.randn(2, 3, 4, 4, generator=gen, dtype=torch.float64)
    x = torch.rand(1, 3, 4, 4, generator=gen, dtype=torch.float64)
    ctx = _context(weight, x, torch.zeros(1, dtype=torch.long))
    ctx.explain_target = None
    with pytest.raises(TypeError, match="explain_target"):
        RandomLogit().compute(ctx)


def test_the_other_class_depends_on_the_run_seed_not_the_method() -> None:
    # every method of a run must be asked about the same other class per sample; the unit seed
    # differs per method, the run seed does not
    gen = torch.Generator().manual_seed(2)
    weight = torch.randn(7, 3, 8, 8, generator=gen, dtype=torch.float64)
    x = torch.rand(6, 3, 8, 8, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    asked = []
    for unit_seed in (11, 12):
        ctx = _context(weight, x, labels)
        ctx.seed, ctx.run_seed = unit_seed, 5
        explain = ctx.explain_target
        ctx.explain_target = lambda target, explain=explain: (asked.append(target.labels.clone()), explain(target))[1]
        RandomLogit().compute(ctx)
    torch.testing.assert_close(asked[0], asked[1], rtol=0, atol=0)
    torch.testing.assert_close(asked[0], other_classes(labels, torch.arange(6), num_classes=7, seed=5), rtol=0, atol=0)
