"""ROAD: RemOve And Debias (Rong et al., "A Consistent and Efficient Evaluation Strategy for
Attribution Methods", ICML 2022, arXiv 2202.00449).

Deletion with a fill that leaks no shape of the removed set: every removed pixel is replaced by
the weighted mean of its 8 neighbours (weight 1/6 for the 4 edge neighbours, 1/12 for the 4
diagonal ones, renormalised at the image border) plus Gaussian noise, solved jointly for all
removed pixels of an image as one sparse linear system ("noisy linear imputation"):

    for every removed pixel i:   sum_{j in N(i)} w_ij (v_i - v_j) = 0,
    with v_j = x_j for kept neighbours (right-hand side) and v_j unknown for removed ones,

then v_i <- v_i + noise * eps_i, eps_i ~ N(0, 1) (seeded, per channel; values are not clipped).
The system is non-singular whenever at least one pixel is kept (every connected component of
removed pixels borders a kept pixel), so fractions lie in (0, 1).

Orders (pixels ranked by the map, (B, 1, H, W); ties broken at random, seeded by run seed and
sample index): MoRF removes the top ``p`` share of pixels, LeRF the bottom ``p`` share. Values
per sample, the mean target score over the fractions ``p`` (default 0.1, 0.2, ..., 0.9):

    road_morf   mean score with the most relevant pixels imputed   (lower is better)
    road_lerf   mean score with the least relevant pixels imputed  (higher is better)

The score is the class probability by default (Rong et al. report accuracy, its 0/1 version) or
the logit (``score="logit"``). The imputation runs on the CPU in float64 with scipy.sparse, one
solve per (sample, fraction, order): a sparse factorisation cannot be batched over images.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from attrbench.api import MetricCategory, MetricInfo
from attrbench.metrics.base import Curve, Metric, MetricContext, MetricResult
from attrbench.metrics.perturbation import SCORES, rank_scores, score_target, tie_keys
from attrbench.stats import ValueRange

__all__ = ["NEIGHBOURS", "Road", "noisy_linear_impute"]

#: (dy, dx, weight) of the imputation neighbourhood (Rong et al.: 1/6 edge, 1/12 diagonal).
NEIGHBOURS: tuple[tuple[int, int, float], ...] = (
    (-1, 0, 1 / 6), (1, 0, 1 / 6), (0, -1, 1 / 6), (0, 1, 1 / 6),
    (-1, -1, 1 / 12), (-1, 1, 1 / 12), (1, -1, 1 / 12), (1, 1, 1 / 12),
)


def noisy_linear_impute(
    image: np.ndarray, removed: np.ndarray, *, noise: float = 0.01, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Replace the ``removed`` pixels by noisy linear imputation (module docstring).

    Args:
        image: (C, H, W) float array.
        removed: (H, W) bool, True = impute; at least one pixel must be kept.
        noise: standard deviation of the Gaussian noise added to imputed values.
        rng: generator for the noise (required when ``noise > 0``).

    Returns:
        (C, H, W) float64 copy with the removed pixels imputed.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    c, h, w = image.shape
    out = np.array(image, dtype=np.float64)
    if removed.shape != (h, w):
        raise ValueError(f"noisy_linear_impute: mask {removed.shape} does not match the image {(h, w)}")
    n = int(removed.sum())
    if n == 0:
        return out
    if n == h * w:
        raise ValueError("noisy_linear_impute: every pixel is removed; keep at least one (fraction < 1)")
    index = np.full((h, w), -1, dtype=np.int64)
    index[removed] = np.arange(n)
    ys, xs = np.nonzero(removed)
    diag = np.zeros(n)
    rhs = np.zeros((n, c))
    rows, cols, vals = [], [], []
    for dy, dx, weight in NEIGHBOURS:
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        i, ny, nx = np.nonzero(inside)[0], ny[inside], nx[inside]
        diag[i] += weight
        j = index[ny, nx]
        unknown = j >= 0
        rows.append(i[unknown])
        cols.append(j[unknown])
        vals.append(np.full(int(unknown.sum()), -weight))
        np.add.at(rhs, i[~unknown], weight * out[:, ny[~unknown], nx[~unknown]].T)
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(diag)
    a = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsc()
    solved = np.asarray(spsolve(a, rhs)).reshape(n, c)
    if noise > 0:
        if rng is None:
            raise ValueError("noisy_linear_impute: noise > 0 needs a seeded rng")
        solved = solved + noise * rng.standard_normal((n, c))
    out[:, ys, xs] = solved.T
    return out


class Road(Metric):
    """ROAD MoRF / LeRF with noisy linear imputation (module docstring).

    Args:
        fractions: removed shares of pixels, each in (0, 1).
        noise: standard deviation of the imputation noise (pixel units, images in [0, 1]).
        score: "probability" (default) or "logit".
    """

    info: ClassVar[MetricInfo] = MetricInfo(
        name="road",
        category=MetricCategory.FAITHFULNESS,
        needs_model=True,
        reference="Rong et al., ICML 2022, arXiv 2202.00449 (noisy linear imputation)",
    )
    outputs: ClassVar[dict[str, bool]] = {"road_morf": False, "road_lerf": True}

    def __init__(
        self,
        *,
        fractions: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
        noise: float = 0.01,
        score: str = "probability",
    ) -> None:
        if isinstance(fractions, (int, float)):
            fractions = (fractions,)
        if not fractions or any(not 0 < float(p) < 1 for p in fractions):
            raise ValueError(f"road: fractions must lie in (0, 1), got {fractions}")
        if float(noise) < 0:
            raise ValueError(f"road: noise must be >= 0, got {noise}")
        if score not in SCORES:
            raise ValueError(f"road: unknown score {score!r}; choose from {SCORES}")
        self.fractions = tuple(float(p) for p in fractions)
        self.noise = float(noise)
        self.score = score

    def value_range(self, name: str) -> ValueRange:
        """Probabilities lie in [0, 1]; logits are unbounded."""
        super().value_range(name)
        return ValueRange(low=0.0, high=1.0) if self.score == "probability" else ValueRange()

    def _imputed(self, ctx: MetricContext, host: tuple[np.ndarray, np.ndarray, list[int]], *, lerf: bool) -> Tensor:
        """(B * K, C, H, W) imputed images, sample-major (K = number of fractions).

        ``host``: the images (B, C, H, W) float64, the pixel ranks (B, H, W) and the sample indices,
        transferred to the host once per batch (the solves run there).
        """
        images, ranks_np, samples = host
        b, _, h, w = images.shape
        out = []
        for s, sample in enumerate(samples):  # one sparse solve per image and fraction
            for k, p in enumerate(self.fractions):
                count = int(round(p * h * w))
                removed = ranks_np[s] >= h * w - count if lerf else ranks_np[s] < count
                rng = np.random.default_rng([int(ctx.seed), int(sample), k, int(lerf)])
                out.append(noisy_linear_impute(images[s], removed, noise=self.noise, rng=rng))
        return torch.as_tensor(np.stack(out)).to(ctx.batch.images)

    @torch.no_grad()
    def compute(self, ctx: MetricContext) -> MetricResult:
        b = ctx.maps.shape[0]
        pixels = ctx.maps[:, 0].flatten(1).to(torch.float64)
        samples = ctx.sample_index.tolist()
        keys = tie_keys(samples, seed=ctx.seed, order=0, units=pixels.shape[1]).to(pixels.device)
        ranks = rank_scores(pixels, keys=keys)
        scorer = score_target(ctx.target, self.score)
        k = len(self.fractions)
        sample_of = torch.arange(b, device=ctx.maps.device).repeat_interleave(k)
        values, curves = {}, {}
        images = ctx.batch.images.detach().to("cpu", torch.float64).numpy()
        host = (images, ranks.cpu().numpy().reshape(images.shape[0], *images.shape[2:]), samples)
        for name, lerf in (("road_morf", False), ("road_lerf", True)):
            x = self._imputed(ctx, host, lerf=lerf)
            scores = torch.cat([
                scorer(ctx.model(x[i : i + ctx.max_forward_batch]),
                       *(t[sample_of[i : i + ctx.max_forward_batch]] for t in scorer.per_sample))
                for i in range(0, b * k, ctx.max_forward_batch)
            ]).to(torch.float64).view(b, k)
            values[name] = scores.mean(dim=1)
            curves[name] = Curve(fractions=torch.tensor(self.fractions, dtype=torch.float64), scores=scores)
        reason = "the model's score is not finite on an imputed image"
        return MetricResult(values=values, reasons={n: reason for n in values}, curves=curves)
