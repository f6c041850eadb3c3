"""Location instability of part patterns (Zhang et al., AAAI 2018, arXiv 1708.01785, Sec. "Location
instability"), with raw-filter peaks and random positions as comparisons. Lower is better.

Definition (exactly what is computed; N images, pattern V with inferred positions p_V(I) and scores
S_V(I), annotated landmarks l_k(I) with visibility, image diagonal D = sqrt(H^2 + W^2) of the model
input, all in the pixels of the model input):

1. the pattern's images: its ``top_images`` (20) images with the largest S_V(I) (ties: the
   earlier image);
2. for each landmark k: the sample standard deviation (ddof 1) over those images where l_k is
   visible of d_k(I) = |p_V(I) - l_k(I)| / D; landmarks visible in fewer than two of them are skipped;
3. the pattern's instability: the mean over the remaining landmarks (NaN if none remain);
4. per layer: the ``top_patterns`` patterns with the largest mean score over their top images;
   the layer's value is the mean of their instabilities (NaN ones skipped);
5. the model's value: the mean over layers.

The paper's protocol uses the CUB landmarks back, forehead and tail (part ids 1, 6, 14), the top
20 images and the top 167 of 512 patterns per layer (a third; here ``pattern_fraction``).
Comparisons: **raw filter peaks** (each filter is one pattern at the centre of its strongest unit,
score = its normalised maximum) and **random positions** (the graph's patterns, images and scores,
positions uniform over the image: what the statistic gives without any localisation).
Intervals: half-sampling over images (:func:`attrbench.stats.half_sample_statistics`): each
resample is a random half of the images without replacement and re-runs steps 1-5; the interval is
centred on the value. A bootstrap with replacement is biased here: a repeated image enters a
pattern's top images twice with zero spread between its copies, so every resampled instability is
too low (all intervals fell below their values). The comparison of two position sources is the
paired difference of their instabilities on the same resampled images; its interval decides
:func:`verdict` (:func:`attrbench.features.graph_study.comparison_tables`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from attrbench.errors import DataError
from attrbench.features.geometry import LayerGeometry
from attrbench.stats import half_sample_statistics

__all__ = [
    "DEFAULT_LANDMARKS",
    "LayerPatterns",
    "instability",
    "instability_with_ci",
    "landmark_indices",
    "layer_instabilities",
    "mean_over_layers",
    "pattern_instability",
    "random_positions",
    "raw_peaks",
    "subset",
    "verdict",
]

#: the paper's CUB landmarks (part ids 1, 6, 14).
DEFAULT_LANDMARKS: tuple[str, ...] = ("back", "forehead", "tail")


@dataclass(frozen=True)
class LayerPatterns:
    """One layer's patterns on N images: positions (P, N, 2) pixel (row, col), scores (P, N)."""

    layer: str
    positions: Tensor
    scores: Tensor


def landmark_indices(part_names: Sequence[str], wanted: Sequence[str]) -> list[int]:
    """Column indices of the ``wanted`` landmarks in a dataset's ``part_names`` ("all": every part)."""
    if list(wanted) == ["all"]:
        return list(range(len(part_names)))
    missing = [w for w in wanted if w not in part_names]
    if missing:
        raise DataError(f"--landmarks {missing} not among the dataset's parts: {', '.join(part_names)}")
    return [list(part_names).index(w) for w in wanted]


def _top_images(scores: Tensor, top_images: int) -> Tensor:
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices
    return order[:, : min(top_images, scores.shape[1])]


def pattern_instability(
    positions: Tensor, scores: Tensor, landmarks: Tensor, *, image_size: tuple[int, int], top_images: int = 20
) -> Tensor:
    """Steps 1-3 of the module docstring for every pattern.

    Args:
        positions: (P, N, 2) pixel (row, col); scores: (P, N).
        landmarks: (N, L, 3) rows (x, y, visible) as in ``Sample.parts``.

    Returns:
        (P,) float64 instabilities (NaN where no landmark is visible twice).
    """
    top = _top_images(scores, top_images)  # (P, T)
    pos = positions.double().gather(1, top[..., None].expand(-1, -1, 2))  # (P, T, 2)
    lm = landmarks.double()[top]  # (P, T, L, 3)
    diag = math.hypot(*image_size)
    d = torch.sqrt((pos[:, :, None, 0] - lm[..., 1]) ** 2 + (pos[:, :, None, 1] - lm[..., 0]) ** 2) / diag
    vis = (lm[..., 2] > 0).double()
    n = vis.sum(1)  # (P, L)
    mean = (d * vis).sum(1) / n.clamp(min=1)
    var = (vis * (d - mean[:, None]) ** 2).sum(1) / (n - 1).clamp(min=1)
    std = torch.where(n >= 2, var.sqrt(), torch.full_like(var, math.nan))
    return torch.nanmean(std, dim=1)


def layer_instabilities(
    layers: Sequence[LayerPatterns], landmarks: Tensor, *, image_size: tuple[int, int], top_images: int = 20,
    pattern_fraction: float = 1 / 3,
) -> list[float]:  # fmt: skip
    """Steps 1-4 of the module docstring: each layer's value (NaN where no pattern has one)."""
    values = []
    for lay in layers:
        per = pattern_instability(lay.positions, lay.scores, landmarks, image_size=image_size, top_images=top_images)
        strength = lay.scores.double().gather(1, _top_images(lay.scores, top_images)).mean(1)
        keep = max(1, math.ceil(pattern_fraction * lay.scores.shape[0]))
        chosen = torch.sort(strength, descending=True, stable=True).indices[:keep]
        values.append(float(torch.nanmean(per[chosen])))
    return values


def mean_over_layers(values: Sequence[float]) -> float:
    """Step 5: the mean of the layers' values, NaN ones skipped (NaN if all are)."""
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def instability(
    layers: Sequence[LayerPatterns], landmarks: Tensor, *, image_size: tuple[int, int], top_images: int = 20,
    pattern_fraction: float = 1 / 3,
) -> float:  # fmt: skip
    """Steps 1-5 of the module docstring: the model's location instability (lower is better)."""
    kw = dict(image_size=image_size, top_images=top_images, pattern_fraction=pattern_fraction)
    return mean_over_layers(layer_instabilities(layers, landmarks, **kw))  # type: ignore[arg-type]


def subset(layers: Sequence[LayerPatterns], index: Tensor) -> list[LayerPatterns]:
    """The same layers on the images ``index`` (N',) long (a resample of the images)."""
    return [LayerPatterns(lay.layer, lay.positions[:, index], lay.scores[:, index]) for lay in layers]


def instability_with_ci(
    layers: Sequence[LayerPatterns], landmarks: Tensor, *, image_size: tuple[int, int], top_images: int = 20,
    pattern_fraction: float = 1 / 3, resamples: int = 1000, seed: int = 0,
) -> tuple[float, float, float]:  # fmt: skip
    """(value, low, high): :func:`instability` with a 95 % half-sampling interval over images."""

    def statistic(idx: np.ndarray) -> float:
        index = torch.as_tensor(idx, dtype=torch.long)
        return instability(subset(layers, index), landmarks[index], image_size=image_size, top_images=top_images,
                           pattern_fraction=pattern_fraction)  # fmt: skip

    value, low, high, _ = half_sample_statistics(
        lambda idx: np.array([statistic(idx)]), int(landmarks.shape[0]), resamples=resamples, seed=seed
    )[0]
    return float(value), float(low), float(high)


def verdict(low: float, high: float) -> str:
    """The verdict on a difference first - second from its interval (low, high): "lower" if the
    interval lies below 0, "not lower" if above 0, "inconclusive" if it contains 0 or is undefined."""
    if math.isfinite(high) and high < 0:
        return "lower"
    if math.isfinite(low) and low > 0:
        return "not lower"
    return "inconclusive"


def raw_peaks(layer: str, act: Tensor, geometry: LayerGeometry) -> LayerPatterns:
    """Raw filter peaks: (N, C, H', W') -> each filter's strongest unit centre and its normalised value."""
    flat = act.detach().double().clamp(min=0).flatten(2)  # (N, C, K)
    scale = flat.amax(2).mean(0)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    best, arg = (flat / scale[None, :, None]).max(dim=2)  # (N, C)
    return LayerPatterns(layer, geometry.centres()[arg.T], best.T)


def random_positions(patterns: LayerPatterns, *, image_size: tuple[int, int], seed: int = 0) -> LayerPatterns:
    """The same patterns and scores with positions uniform over the image (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(*patterns.scores.shape, 2, generator=gen, dtype=torch.float64)
    pos = u * torch.tensor(image_size, dtype=torch.float64)
    return LayerPatterns(patterns.layer, pos, patterns.scores)
