"""Deletion / insertion on additive toys whose curves are computed by hand."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from attrbench.api import ClassLogit
from attrbench.metrics.deletion import Deletion
from attrbench.metrics.insertion import Insertion
from attrbench.metrics.perturbation import fill_images, perturbation_curves, step_counts
from attrbench.testing.toys import make_context


class Additive(nn.Module):
    """logit_0(x) = sum_ij W_ij * mean_c x_cij (exact contributions W_ij * mean_c x_cij)."""

    def __init__(self, weight: Tensor) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, x: Tensor) -> Tensor:
        return (x.mean(dim=1) * self.weight).sum(dim=(1, 2)).view(-1, 1)


def _blocks() -> Tensor:
    # 2x2 blocks of a 4x4 weight with block sums 4, 3 (top) and 2, 1 (bottom)
    w = torch.tensor([[4.0, 3.0], [2.0, 1.0]], dtype=torch.float64) / 4
    return w.repeat_interleave(2, 0).repeat_interleave(2, 1)


def test_deletion_and_insertion_auc_by_hand() -> None:
    weight = _blocks()
    model = Additive(weight)
    x = torch.ones(1, 3, 4, 4, dtype=torch.float64)
    ctx = make_context(model=model, images=x, labels=torch.zeros(1, dtype=torch.long), maps=weight.view(1, 1, 4, 4))
    res = Deletion(unit=2, steps=4).compute(ctx)
    # remove blocks 4, 3, 2, 1 in turn: scores 10, 6, 3, 1, 0 at fractions 0, .25, .5, .75, 1
    curve = res.curves["deletion"]
    torch.testing.assert_close(curve.fractions, torch.tensor([0, 0.25, 0.5, 0.75, 1], dtype=torch.float64))
    torch.testing.assert_close(curve.scores, torch.tensor([[10.0, 6, 3, 1, 0]], dtype=torch.float64), rtol=0, atol=1e-12)
    # AUC = 0.25 * (8 + 4.5 + 2 + 0.5) = 3.75; normalised by f(x) - f(fill) = 10 - 0: 0.375
    torch.testing.assert_close(res.values["deletion_auc_raw"], torch.tensor([3.75], dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(res.values["deletion_auc"], torch.tensor([0.375], dtype=torch.float64), rtol=0, atol=1e-12)
    ins = Insertion(unit=2, steps=4).compute(ctx)
    # insert 4, 3, 2, 1: scores 0, 4, 7, 9, 10 -> 0.25 * (2 + 5.5 + 8 + 9.5) = 6.25
    torch.testing.assert_close(ins.curves["insertion"].scores, torch.tensor([[0.0, 4, 7, 9, 10]], dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(ins.values["insertion_auc_raw"], torch.tensor([6.25], dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(ins.values["insertion_auc"], torch.tensor([0.625], dtype=torch.float64), rtol=0, atol=1e-12)
    # 3 steps over 4 units: ceil(4/3) = 2 units per step -> counts 0, 2, 4 -> 10, 3, 0; AUC 0.5 * (6.5 + 1.5) = 4
    res3 = Deletion(unit=2, steps=3).compute(ctx)
    torch.testing.assert_close(res3.values["deletion_auc_raw"], torch.tensor([4.0], dtype=torch.float64), rtol=0, atol=1e-12)


def test_torchcam_convention_sum_classifier() -> None:
    """torchcam's own hand-built case (tests/test_metrics.py of frgfm/torch-cam): input
    [[0.4, 0.3], [0.2, 0.1]] ranked by itself, sum classifier, 2 steps -> deletion [1.0, 0.3, 0.0],
    AUC 0.4; pixel units, zero baseline, unperturbed point included, trapezoid on [0, 1]."""

    class Sum(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return x.sum(dim=(1, 2, 3)).view(-1, 1)

    x = torch.tensor([[[[0.4, 0.3], [0.2, 0.1]]]], dtype=torch.float64)
    fr, scores = perturbation_curves(
        model=Sum(), images=x, maps=x, target=ClassLogit(torch.zeros(1, dtype=torch.long)), mode="deletion", unit=1, steps=2
    )
    torch.testing.assert_close(fr, torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))
    torch.testing.assert_close(scores, torch.tensor([[1.0, 0.3, 0.0]], dtype=torch.float64), rtol=0, atol=1e-12)
    auc = torch.trapezoid(scores, fr.expand_as(scores), dim=1)
    torch.testing.assert_close(auc, torch.tensor([0.4], dtype=torch.float64), rtol=0, atol=1e-12)
    # torchcam's step rule: ceil(P / steps) positions per step, the last point is always P
    assert step_counts(4, 2) == [0, 2, 4]
    assert step_counts(5, 2) == [0, 3, 5]
    assert step_counts(10, 4) == [0, 3, 6, 9, 10]


def test_ties_break_by_index_and_chunking_does_not_matter() -> None:
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(8, 8, generator=gen, dtype=torch.float64)
    model = Additive(weight)
    x = torch.rand(3, 3, 8, 8, generator=gen, dtype=torch.float64)
    maps = torch.zeros(3, 1, 8, 8, dtype=torch.float64)  # all tied: removal in row-major order
    target = ClassLogit(torch.zeros(3, dtype=torch.long))
    fr, s1 = perturbation_curves(model=model, images=x, maps=maps, target=target, mode="deletion", unit=1, steps=64)
    _, s2 = perturbation_curves(model=model, images=x, maps=maps, target=target, mode="deletion", unit=1, steps=64, max_forward_batch=7)
    torch.testing.assert_close(s1, s2, rtol=0, atol=0)
    contrib = (x.mean(dim=1) * weight).flatten(1)  # (3, 64), removed in index order
    expected = contrib.sum(1, keepdim=True) - torch.cat([torch.zeros(3, 1, dtype=torch.float64), contrib.cumsum(1)], dim=1)
    torch.testing.assert_close(s1, expected, rtol=0, atol=1e-12)


def test_fills() -> None:
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float64).view(2, 3, 4, 4)
    torch.testing.assert_close(fill_images(x, fill="mean")[:, :, 0, 0], x.mean(dim=(2, 3)), rtol=0, atol=0)
    assert fill_images(x, fill="zero").abs().sum().item() == 0.0
    flat = torch.full((1, 3, 6, 6), 0.25, dtype=torch.float64)
    torch.testing.assert_close(fill_images(flat, fill="blur", blur_sigma=2.0), flat, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="unknown fill"):
        Deletion(fill="gray")


def test_probability_score() -> None:
    class Two(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            s = x.sum(dim=(1, 2, 3))
            return torch.stack([s, torch.zeros_like(s)], dim=1)

    x = torch.tensor([[[[1.0, 1.0]]]], dtype=torch.float64)
    ctx = make_context(model=Two(), images=x, labels=torch.zeros(1, dtype=torch.long), maps=x)
    res = Deletion(unit=1, steps=2, score="probability").compute(ctx)
    s = torch.sigmoid(torch.tensor([2.0, 1.0, 0.0], dtype=torch.float64))  # softmax of (s, 0) = sigmoid(s)
    torch.testing.assert_close(res.curves["deletion"].scores[0], s, rtol=0, atol=1e-12)


def test_normalised_auc_on_the_torchcam_example_with_an_offset() -> None:
    """torchcam's 2 x 2 case with a bias of 2 on the sum classifier: deletion scores 3.0, 2.3, 2.0,
    raw AUC 0.5 * (2.65 + 2.15) = 2.4, normalised (2.4 - 2) / (3 - 2) = 0.4 (the bias-free raw AUC);
    insertion 2.0, 2.7, 3.0, raw 0.5 * (2.35 + 2.85) = 2.6, normalised 0.6."""

    class SumPlusTwo(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return x.sum(dim=(1, 2, 3)).view(-1, 1) + 2.0

    x = torch.tensor([[[[0.4, 0.3], [0.2, 0.1]]]], dtype=torch.float64)
    ctx = make_context(model=SumPlusTwo(), images=x, labels=torch.zeros(1, dtype=torch.long), maps=x)
    dele = Deletion(unit=1, steps=2).compute(ctx).values
    ins = Insertion(unit=1, steps=2).compute(ctx).values
    for values, raw, norm in ((dele, "deletion_auc_raw", "deletion_auc"), (ins, "insertion_auc_raw", "insertion_auc")):
        expected_raw, expected = (2.4, 0.4) if raw.startswith("deletion") else (2.6, 0.6)
        torch.testing.assert_close(values[raw], torch.tensor([expected_raw], dtype=torch.float64), rtol=0, atol=1e-12)
        torch.testing.assert_close(values[norm], torch.tensor([expected], dtype=torch.float64), rtol=0, atol=1e-12)
    # an image scoring like its fill has no normalised AUC (NaN), the raw AUC stays defined
    ctx0 = make_context(model=SumPlusTwo(), images=torch.zeros_like(x), labels=torch.zeros(1, dtype=torch.long), maps=x)
    zero = Deletion(unit=1, steps=2).compute(ctx0).values
    assert torch.isnan(zero["deletion_auc"]).all() and zero["deletion_auc_raw"].item() == 2.0  # a flat curve at the bias


def _tied_case() -> tuple[Additive, Tensor, Tensor]:
    """A 10 x 10 additive model and one image; the map has 35 % exact zeros (ties) and distinct positive
    values elsewhere; image and weight are not symmetric, so the tie order changes the curve."""
    gen = torch.Generator().manual_seed(3)
    weight = torch.rand(10, 10, generator=gen, dtype=torch.float64) * torch.linspace(0.2, 2, 100, dtype=torch.float64).view(10, 10)
    x = torch.rand(1, 3, 10, 10, generator=gen, dtype=torch.float64)
    maps = torch.rand(1, 1, 10, 10, generator=gen, dtype=torch.float64) + 0.1
    zeros = torch.randperm(100, generator=gen)[:35]
    maps.view(-1)[zeros] = 0.0
    return Additive(weight), x, maps


def test_random_tie_orders_do_not_depend_on_the_row_major_order_of_ties() -> None:
    model, x, maps = _tied_case()
    assert (maps == 0).double().mean().item() == 0.35
    labels = torch.zeros(1, dtype=torch.long)
    # rotating image, weight and map by 180 degrees reverses the row-major order of every pixel and changes
    # nothing else: same contributions, same map values per pixel
    flipped = Additive(model.weight.flip(0, 1))
    setups = [(model, x, maps), (flipped, x.flip(2, 3), maps.flip(2, 3))]
    row_major = [Deletion(unit=1, steps=100, tie_orders=0).compute(
        make_context(model=m, images=i, labels=labels, maps=a)).values["deletion_auc"] for m, i, a in setups]
    orders = 64
    averaged, spread = [], []
    for m, i, a in setups:
        ctx = make_context(model=m, images=i, labels=labels, maps=a)
        averaged.append(Deletion(unit=1, steps=100, tie_orders=orders).compute(ctx).values["deletion_auc"])
        single = []
        for seed in range(orders):  # one random order each: the spread of a single order
            ctx.seed = seed
            single.append(Deletion(unit=1, steps=100, tie_orders=1).compute(ctx).values["deletion_auc"])
        spread.append(torch.cat(single).std())
    sem_diff = float(torch.stack(spread).pow(2).sum().sqrt()) / orders**0.5  # s.e. of the difference of two means
    gap_row_major = float((row_major[0] - row_major[1]).abs())
    gap_random = float((averaged[0] - averaged[1]).abs())
    assert gap_row_major > 10 * sem_diff  # the row-major tie-break decides the score ...
    assert gap_random < 4 * sem_diff  # ... the averaged random orders agree within their Monte-Carlo error


def test_untied_maps_are_scored_once_and_equal_the_row_major_curve() -> None:
    model, x, maps = _tied_case()
    maps = maps + torch.arange(100, dtype=torch.float64).view(1, 1, 10, 10) * 1e-3  # all values distinct
    ctx = make_context(model=model, images=x, labels=torch.zeros(1, dtype=torch.long), maps=maps)
    a = Deletion(unit=1, steps=20, tie_orders=8).compute(ctx).curves["deletion"].scores
    b = Deletion(unit=1, steps=20, tie_orders=0).compute(ctx).curves["deletion"].scores
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="tie_orders"):
        Deletion(tie_orders=-1)


def test_random_tie_orders_do_not_depend_on_the_batch() -> None:
    model, x, maps = _tied_case()
    x2 = torch.cat([x, x.flip(3)])
    maps2 = torch.cat([maps, maps.flip(3)])
    labels = torch.zeros(2, dtype=torch.long)
    both = make_context(model=model, images=x2, labels=labels, maps=maps2)
    both.sample_index = torch.tensor([4, 9])
    together = Deletion(unit=1, steps=25, tie_orders=3).compute(both).values["deletion_auc_raw"]
    alone = []
    for i, sample in enumerate((4, 9)):
        ctx = make_context(model=model, images=x2[i : i + 1], labels=labels[:1], maps=maps2[i : i + 1])
        ctx.sample_index = torch.tensor([sample])
        alone.append(Deletion(unit=1, steps=25, tie_orders=3).compute(ctx).values["deletion_auc_raw"])
    torch.testing.assert_close(together, torch.cat(alone), rtol=0, atol=1e-12)
