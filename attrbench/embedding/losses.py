"""Metric-learning losses for :mod:`attrbench.embedding.train`, on P x K batches of unit embeddings.

``semihard``: the FaceNet triplet loss with semi-hard negatives (Schroff, Kalenichenko, Philbin,
CVPR 2015, arXiv 1503.03832). For every anchor-positive pair (a, p) the negative is the closest
negative farther than the positive, d(a, n) > d(a, p); when none is farther, the farthest
negative. L = mean over (a, p) of [d(a, p) - d(a, n) + m]_+ with squared Euclidean d.

``multisimilarity``: the multi-similarity loss (Wang, Han, Huang, Dong, Scott, CVPR 2019,
arXiv 1904.06627) on cosine similarities S_ij = <e_i, e_j>. Pair mining: a negative j of anchor
i is kept when S_ij + eps > min_{positives k} S_ik, a positive when S_ij - eps < max_{negatives k}
S_ik; then

    L_i = (1/alpha) log(1 + sum_{kept pos} exp(-alpha (S_ij - lambda)))
        + (1/beta)  log(1 + sum_{kept neg} exp( beta (S_ij - lambda)))

and L = mean_i L_i. Every anchor weighs all informative pairs of the batch (instead of one
negative per pair), so a P x K batch gives more gradient signal per forward pass, which is what
a CPU budget needs. Defaults alpha = 2, beta = 50, eps = 0.1 are the paper's; lambda = 0.5 (the
paper uses 0.5 to 1 by dataset).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["LOSSES", "multi_similarity_loss", "pairwise_sq_distances", "semihard_triplet_loss"]

#: loss names of ``attrbench train-embedding --loss``.
LOSSES: tuple[str, ...] = ("semihard", "multisimilarity")


def pairwise_sq_distances(embeddings: Tensor) -> Tensor:
    """Squared Euclidean distances: (B, D) -> (B, B), exact zeros on the diagonal."""
    d = torch.cdist(embeddings, embeddings).pow(2)
    return d.fill_diagonal_(0)


def _pair_masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    same = labels.view(-1, 1) == labels.view(1, -1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    if not (same & ~eye).any() or same.all():
        raise ValueError("a metric-learning batch needs at least two classes and two images of one class")
    return same & ~eye, ~same


def semihard_triplet_loss(embeddings: Tensor, labels: Tensor, *, margin: float) -> tuple[Tensor, dict[str, float]]:
    """FaceNet triplet loss with semi-hard negatives (module docstring).

    Args:
        embeddings: (B, D).
        labels: (B,).
        margin: m.

    Returns:
        The scalar loss and stats {"active": fraction of pairs with positive loss,
        "semihard": fraction of pairs that found a semi-hard negative}.
    """
    d = pairwise_sq_distances(embeddings)
    pos_pairs, negatives = _pair_masks(labels)
    a_idx, p_idx = pos_pairs.nonzero(as_tuple=True)
    d_ap = d[a_idx, p_idx]  # (M,)
    d_an = d[a_idx]  # (M, B)
    neg = negatives[a_idx]
    inf = torch.tensor(float("inf"), dtype=d.dtype, device=d.device)
    outside = neg & (d_an > d_ap.view(-1, 1))
    semihard = torch.where(outside, d_an, inf).min(1).values
    farthest = torch.where(neg, d_an, -inf).max(1).values
    has_semihard = outside.any(1)
    d_neg = torch.where(has_semihard, semihard, farthest)
    losses = torch.relu(d_ap - d_neg + margin)
    stats = {"active": float((losses > 0).float().mean()), "semihard": float(has_semihard.float().mean())}
    return losses.mean(), stats


def _log1p_sum_exp(z: Tensor, keep: Tensor) -> Tensor:
    """log(1 + sum_j exp(z_ij)) over the kept j of each row, stably: (B, B) -> (B,)."""
    masked = torch.where(keep, z, torch.full_like(z, float("-inf")))
    return torch.logsumexp(torch.cat([torch.zeros_like(z[:, :1]), masked], dim=1), dim=1)


def multi_similarity_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    alpha: float = 2.0,
    beta: float = 50.0,
    lam: float = 0.5,
    eps: float = 0.1,
) -> tuple[Tensor, dict[str, float]]:
    """Multi-similarity loss with its pair mining (module docstring).

    Args:
        embeddings: (B, D) unit vectors.
        labels: (B,).
        alpha, beta, lam, eps: the paper's alpha, beta, lambda, epsilon.

    Returns:
        The scalar loss and stats {"active": fraction of anchors with at least one mined pair}.
    """
    s = embeddings @ embeddings.t()
    positives, negatives = _pair_masks(labels)
    inf = torch.tensor(float("inf"), dtype=s.dtype, device=s.device)
    hardest_pos = torch.where(positives, s, inf).min(1, keepdim=True).values  # (B, 1)
    hardest_neg = torch.where(negatives, s, -inf).max(1, keepdim=True).values
    keep_neg = negatives & (s + eps > hardest_pos)
    keep_pos = positives & (s - eps < hardest_neg)
    pos_term = _log1p_sum_exp(-alpha * (s - lam), keep_pos) / alpha
    neg_term = _log1p_sum_exp(beta * (s - lam), keep_neg) / beta
    active = (keep_pos.any(1) | keep_neg.any(1)).float().mean()
    return (pos_term + neg_term).mean(), {"active": float(active)}
