"""Family base for SmoothGrad and VarGrad: Captum ``NoiseTunnel`` over raw ``Saliency``.

    SmoothGrad: A(x) = (1/n) sum_k grad f(x + eps_k),              eps_k ~ N(0, stdevs^2 I)
    VarGrad:    A(x) = (1/n) sum_k (grad f(x + eps_k))^2 - A_SG(x)^2   (elementwise variance)

Gradients are signed (``abs=False``); magnitudes are post-processing. ``stdevs`` is in pixel
units of the [0, 1] image (SmoothGrad's "noise level" 10-20 % of the value range -> 0.15).
Captum draws the noise for the whole expanded batch from torch's global generator, so each
sample runs under its own seed from (seed, image content) and the result is batch-independent.
"""

from __future__ import annotations

from typing import ClassVar

from captum.attr import NoiseTunnel, Saliency
from torch import Tensor, nn

from attrbench.api import AttributionMethod, ModelSpec, Target
from attrbench.memory import MemoryLimited, with_oom_halving
from attrbench.methods.common import (
    captum_args,
    check_float,
    check_int,
    check_optional_int,
    grad_leaf,
    per_sample_seeded,
)

__all__ = ["NoiseTunnelSaliency"]


class NoiseTunnelSaliency(MemoryLimited, AttributionMethod):
    """Base: subclasses set ``info`` and ``nt_type`` ("smoothgrad" or "vargrad").

    Args:
        nt_samples: noisy copies per sample.
        stdevs: noise standard deviation (pixel units).
        nt_samples_batch_size: noisy copies per forward (None: all at once, or as many as the
            run's memory budget allows, :mod:`attrbench.memory`; halved on a GPU out-of-memory error).
        seed: seeds the noise.
    """

    nt_type: ClassVar[str]

    def __init__(
        self,
        model: nn.Module,
        *,
        spec: ModelSpec,
        nt_samples: int = 16,
        stdevs: float = 0.15,
        nt_samples_batch_size: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(model, spec=spec)
        self.nt_samples = check_int("nt_samples", nt_samples)
        self.stdevs = check_float("stdevs", stdevs, minimum=0.0)
        self.nt_samples_batch_size = check_optional_int("nt_samples_batch_size", nt_samples_batch_size)
        self.seed = check_int("seed", seed, minimum=0)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        """(B, 3, H, W) -> (B, 3, H, W)."""
        tunnel = NoiseTunnel(Saliency(target.forward_func(self.model)))

        def run(copies: int | None) -> Tensor:
            def one(x: Tensor, t: Target) -> Tensor:
                return tunnel.attribute(
                    inputs=grad_leaf(x),
                    nt_type=self.nt_type,
                    nt_samples=self.nt_samples,
                    nt_samples_batch_size=copies,
                    stdevs=self.stdevs,
                    abs=False,
                    additional_forward_args=captum_args(t),
                ).detach()

            return per_sample_seeded(one, inputs, target, self.seed)

        if self.nt_samples_batch_size is not None or self.pass_images is None:
            return run(self.nt_samples_batch_size)
        return with_oom_halving(run, min(self.nt_samples, self.pass_images), on_halve=self._halved_pass)
