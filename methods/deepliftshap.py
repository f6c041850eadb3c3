"""DeepLIFT-SHAP: DeepLIFT averaged over a distribution of baselines
(Lundberg & Lee, NeurIPS 2017, arXiv 1705.07874; DeepLIFT: Shrikumar et al., arXiv 1704.02685).

    A(x) = (1/n) sum_k DeepLift(x; b_k),   sum_i A_i = f(x) - (1/n) sum_k f(b_k)  (exact).

Baseline distributions (``baselines``):
    "noise" (default): b_k = baseline + noise_std * eps_k, eps_k ~ N(0, I), not clipped, so that
        E[b_k] is the constant fill image; the k-th draw is seeded by (seed, image content), so a
        sample's attribution does not depend on its batch.
    "blur": b_k = GaussianBlur(x, sigma_k) with sigma_k = blur_sigma * (k + 1) / n
        (input-dependent "blurred" references, deterministic).
    "constant": b_k = the fill image ``baseline`` (0.0 = black) for all k; equals DeepLift.

Ground truth: the runner scores baseline methods against the truth for the constant fill
``baseline``. For "noise" that truth differs from the method's reference E_k f(b_k) by a
second-order term in ``noise_std``; for "blur" it is not the method's reference at all (use
"constant" or "noise" when comparing with ground truth).

Implemented as Captum ``DeepLift`` on the inputs repeated n times against per-row baselines,
then averaged: the same computation as Captum ``DeepLiftShap``, which cannot take per-sample
(blurred) baselines.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from captum.attr import DeepLift as _CaptumDeepLift
from torch import Tensor, nn

from attrbench.api import AttributionMethod, MethodInfo, ModelSpec, Resolution, Target
from attrbench.methods.common import (
    TargetModule,
    captum_args,
    check_choice,
    check_float,
    check_int,
    grad_leaf,
    quiet_captum,
    sample_seeds,
)

__all__ = ["DeepLiftShap", "gaussian_blur"]

BASELINE_KINDS: tuple[str, ...] = ("noise", "blur", "constant")


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur, kernel radius ceil(3 sigma), reflect padding: (B, C, H, W) -> same."""
    radius = max(1, math.ceil(3 * sigma))
    radius = min(radius, images.shape[-1] - 1, images.shape[-2] - 1)
    t = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = images.shape[1]
    x = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


class DeepLiftShap(AttributionMethod):
    """DeepLIFT averaged over ``n_baselines`` references (module docstring).

    Args:
        baseline: pixel-space fill value (mean of the "noise" references; the "constant" reference).
        n_baselines: number of references n.
        baselines: "noise", "blur" or "constant".
        noise_std: standard deviation of the "noise" references (pixel units).
        blur_sigma: largest blur sigma in pixels for "blur".
        seed: seeds the "noise" references.
    """

    info = MethodInfo(
        name="deepliftshap",
        paper="Lundberg & Lee, NeurIPS 2017, arXiv 1705.07874",
        resolution=Resolution.INPUT,
        needs_baseline=True,
        stochastic=True,
    )

    def __init__(
        self,
        model: nn.Module,
        *,
        spec: ModelSpec,
        baseline: float = 0.0,
        n_baselines: int = 8,
        baselines: str = "noise",
        noise_std: float = 0.1,
        blur_sigma: float = 5.0,
        seed: int = 0,
    ) -> None:
        super().__init__(model, spec=spec)
        self.baseline = check_float("baseline", baseline)
        self.n_baselines = check_int("n_baselines", n_baselines)
        self.baselines = check_choice("baselines", baselines, BASELINE_KINDS)
        self.noise_std = check_float("noise_std", noise_std, minimum=0.0)
        self.blur_sigma = check_float("blur_sigma", blur_sigma, positive=True)
        self.seed = check_int("seed", seed, minimum=0)

    def references(self, inputs: Tensor) -> Tensor:
        """The references b_k for every sample: (B, 3, H, W) -> (B, n, 3, H, W)."""
        b, n = inputs.shape[0], self.n_baselines
        if self.baselines == "constant":
            return torch.full((b, n, *inputs.shape[1:]), self.baseline, dtype=inputs.dtype, device=inputs.device)
        if self.baselines == "blur":
            sigmas = [self.blur_sigma * (k + 1) / n for k in range(n)]
            return torch.stack([gaussian_blur(inputs, s) for s in sigmas], dim=1)
        noise = [
            torch.randn((n, *inputs.shape[1:]), generator=torch.Generator().manual_seed(s), dtype=inputs.dtype)
            for s in sample_seeds(inputs, self.seed)
        ]
        return self.baseline + self.noise_std * torch.stack(noise).to(inputs.device)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        """(B, 3, H, W) -> (B, 3, H, W); sums to f(x) - mean_k f(b_k) per sample."""
        b, n = inputs.shape[0], self.n_baselines
        refs = self.references(inputs).reshape(b * n, *inputs.shape[1:])
        index = torch.arange(b, device=target.per_sample[0].device if target.per_sample else None)
        rep_target = target.subset(index.repeat_interleave(n))
        method = _CaptumDeepLift(TargetModule(self.model, rep_target))
        with quiet_captum():
            attr = method.attribute(
                inputs=grad_leaf(inputs.repeat_interleave(n, dim=0)),
                baselines=refs,
                additional_forward_args=captum_args(rep_target),
            )
        return attr.detach().view(b, n, *inputs.shape[1:]).mean(dim=1)
