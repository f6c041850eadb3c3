"""Batched ranks, correlations, AUROC and SSIM against scipy and closed forms."""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from attrbench.metrics.functional import auroc, average_ranks, minmax, pearson, spearman, ssim, topk_count


def test_average_ranks_match_scipy_with_ties() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 5, (4, 30), generator=gen).to(torch.float64)  # many ties
    expected = np.stack([stats.rankdata(row) for row in x.numpy()])
    torch.testing.assert_close(average_ranks(x), torch.from_numpy(expected), rtol=0, atol=0)


def test_spearman_and_pearson_match_scipy() -> None:
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(5, 40, generator=gen, dtype=torch.float64)
    b = a + torch.randn(5, 40, generator=gen, dtype=torch.float64)
    b[0, :10] = 0.0  # ties
    rho = [stats.spearmanr(x, y).statistic for x, y in zip(a.numpy(), b.numpy())]
    r = [stats.pearsonr(x, y).statistic for x, y in zip(a.numpy(), b.numpy())]
    torch.testing.assert_close(spearman(a, b), torch.tensor(rho, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(pearson(a, b), torch.tensor(r, dtype=torch.float64), rtol=0, atol=1e-12)


def test_correlation_of_constant_row_is_nan() -> None:
    a = torch.tensor([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]], dtype=torch.float64)
    b = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], dtype=torch.float64)
    out = spearman(a, b)
    assert torch.isnan(out[0])
    assert out[1].item() == -1.0


def test_auroc_counts_pairs_and_half_ties() -> None:
    scores = torch.tensor([[3.0, 1.0, 2.0, 1.0]])
    labels = torch.tensor([[True, True, False, False]])
    # pairs (pos, neg): (3,2) win, (3,1) win, (1,2) loss, (1,1) tie -> (2 + 0.5) / 4
    assert auroc(scores, labels).item() == 0.625
    assert torch.isnan(auroc(scores, torch.zeros_like(labels))).item()


def test_ssim_identical_is_one_and_differs_otherwise() -> None:
    gen = torch.Generator().manual_seed(2)
    a = minmax(torch.rand(3, 1, 24, 24, generator=gen, dtype=torch.float64))
    torch.testing.assert_close(ssim(a, a), torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-12)
    b = minmax(torch.rand(3, 1, 24, 24, generator=gen, dtype=torch.float64))
    assert (ssim(a, b) < 0.2).all()
    # a constant map against itself is also 1 (the (2 mu mu + C1)/(2 mu^2 + C1) factor is 1)
    c = torch.zeros(1, 1, 5, 5, dtype=torch.float64)
    assert ssim(c, c).item() == 1.0


def test_minmax_and_topk_count() -> None:
    x = torch.tensor([[[[2.0, 4.0], [6.0, 2.0]]], [[[1.0, 1.0], [1.0, 1.0]]]])
    torch.testing.assert_close(minmax(x)[0, 0], torch.tensor([[0.0, 0.5], [1.0, 0.0]]), rtol=0, atol=0)
    assert minmax(x)[1].abs().sum().item() == 0.0
    assert (topk_count(25, 5), topk_count(25, 10), topk_count(25, 20), topk_count(3, 5)) == (1, 3, 5, 1)
