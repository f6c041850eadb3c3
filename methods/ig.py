"""Integrated Gradients (Sundararajan, Taly, Yan, ICML 2017, arXiv 1703.01365).

    A_i(x) = (x_i - b_i) * int_0^1 d f(b + t (x - b)) / d x_i dt,   (B, 3, H, W),

with the integral by n-point quadrature (Captum; default Gauss-Legendre, exact for polynomials of
degree < 2n). Completeness: sum_i A_i = f(x) - f(b) up to the quadrature error, which for a ReLU
network comes from the kinks of the piecewise-linear path. Captum multiplies by the quadrature
weights in float32, so even on a linear model the result is exact only to ~1e-8 relative.
"""

from __future__ import annotations

import torch
from captum.attr import IntegratedGradients as _CaptumIG
from torch import Tensor, nn

from attrbench.api import AttributionMethod, MethodInfo, ModelSpec, Resolution, Target
from attrbench.memory import MemoryLimited, with_oom_halving
from attrbench.methods.common import captum_args, check_choice, check_float, check_int, check_optional_int, grad_leaf

__all__ = ["IntegratedGradients"]

#: Captum's quadrature rules.
IG_RULES: tuple[str, ...] = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")


class IntegratedGradients(MemoryLimited, AttributionMethod):
    """Path integral of gradients from a constant baseline image to the input.

    Args:
        baseline: pixel-space fill value of the baseline image b (0.0 = black).
        n_steps: quadrature points.
        method: Captum quadrature rule, one of :data:`IG_RULES`.
        internal_batch_size: images per forward/backward pass (Captum's ``internal_batch_size``);
            None: passes sized by ``steps_per_pass`` or ``images_per_pass``.
        steps_per_pass: quadrature points of every sample per pass when ``internal_batch_size`` is
            None (None: sized by ``images_per_pass``).
        images_per_pass: when both options above are None, passes of
            ``max(1, images_per_pass // B)`` quadrature points of each of the B samples (None or
            at least ``n_steps`` points: one pass). Default 32: for the run's batches of 8 the
            4 points per pass measured fastest on these 2-core CPUs (batch 8: 0.31x the time of
            Captum's single pass, 16 points/pass 0.89x; ``scripts/bench_ig.py``,
            ``results/benchmarks/ig_passes.txt``), and sizing in images keeps the passes of
            smaller batches (MPRT re-explains 2 samples per stage: 16 points per pass) as large.
            Chunking only reorders the float sum over the points (docs/methods.md).
    """

    info = MethodInfo(
        name="ig",
        paper="Sundararajan et al., ICML 2017, arXiv 1703.01365",
        resolution=Resolution.INPUT,
        needs_baseline=True,
    )

    def __init__(
        self,
        model: nn.Module,
        *,
        spec: ModelSpec,
        baseline: float = 0.0,
        n_steps: int = 32,
        method: str = "gausslegendre",
        internal_batch_size: int | None = None,
        steps_per_pass: int | None = None,
        images_per_pass: int | None = 32,
    ) -> None:
        super().__init__(model, spec=spec)
        self.baseline = check_float("baseline", baseline)
        self.n_steps = check_int("n_steps", n_steps)
        self.method = check_choice("method", method, IG_RULES)
        self.internal_batch_size = check_optional_int("internal_batch_size", internal_batch_size)
        self.steps_per_pass = check_optional_int("steps_per_pass", steps_per_pass)
        self.images_per_pass = check_optional_int("images_per_pass", images_per_pass)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        """(B, 3, H, W) -> (B, 3, H, W); sums to about f(x) - f(b) per sample.

        With a memory limit ``pass_images`` (set by the run, :mod:`attrbench.memory`) no pass
        holds more images: the samples are taken in groups of at most ``pass_images`` and each
        group's steps in passes of at most ``pass_images`` images. On a GPU an out-of-memory error
        halves the limit and retries.
        """
        if self.internal_batch_size is not None or self.pass_images is None:
            return self._attribute(inputs, target, self._pass_size(inputs.shape[0]))

        def run(limit: int) -> Tensor:
            rows = min(inputs.shape[0], limit)
            outs = []
            for start in range(0, inputs.shape[0], rows):
                idx = slice(start, start + rows)
                n = inputs[idx].shape[0]
                size = self._pass_size(n)
                outs.append(self._attribute(inputs[idx], target.subset(idx), min(size or n * self.n_steps, limit)))
            return torch.cat(outs)

        return with_oom_halving(run, self.pass_images, on_halve=self._halved_pass)

    def _attribute(self, inputs: Tensor, target: Target, internal_batch_size: int | None) -> Tensor:
        ig = _CaptumIG(target.forward_func(self.model))
        return ig.attribute(
            inputs=grad_leaf(inputs),
            baselines=self.baseline,
            additional_forward_args=captum_args(target),
            n_steps=self.n_steps,
            method=self.method,
            internal_batch_size=internal_batch_size,
        ).detach()

    def _pass_size(self, batch: int) -> int | None:
        """Captum's internal_batch_size for ``batch`` samples (None: one pass)."""
        if self.internal_batch_size is not None:
            return self.internal_batch_size
        if self.steps_per_pass is not None:
            steps = self.steps_per_pass
        elif self.images_per_pass is not None:
            steps = max(1, self.images_per_pass // batch)
        else:
            return None
        return None if steps >= self.n_steps else batch * steps
