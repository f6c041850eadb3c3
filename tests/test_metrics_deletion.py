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
    # AUC = 0.25 * (8 + 4.5 + 2 + 0.5) = 3.75
    torch.testing.assert_close(res.values["deletion_auc"], torch.tensor([3.75], dtype=torch.float64), rtol=0, atol=1e-12)
    ins = Insertion(unit=2, steps=4).compute(ctx)
    # insert 4, 3, 2, 1: scores 0, 4, 7, 9, 10 -> 0.25 * (2 + 5.5 + 8 + 9.5) = 6.25
    torch.testing.assert_close(ins.curves["insertion"].scores, torch.tensor([[0.0, 4, 7, 9, 10]], dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(ins.values["insertion_auc"], torch.tensor([6.25], dtype=torch.float64), rtol=0, atol=1e-12)
    # 3 steps over 4 units: ceil(4/3) = 2 units per step -> counts 0, 2, 4 -> 10, 3, 0; AUC 0.5 * (6.5 + 1.5) = 4
    res3 = Deletion(unit=2, steps=3).compute(ctx)
    torch.testing.assert_close(res3.values["deletion_auc"], torch.tensor([4.0], dtype=torch.float64), rtol=0, atol=1e-12)


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
