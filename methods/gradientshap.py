"""GradientSHAP (Lundberg & Lee, NeurIPS 2017, arXiv 1705.07874; Captum ``GradientShap``).

    A(x) = E_{eps, t ~ U[0,1]} [ (x - b) * d f(b + t (x + eps - b)) / d x ],  eps ~ N(0, stdevs^2),

estimated from ``n_samples`` draws: an expected-gradients / Monte-Carlo Integrated Gradients
estimate, so sum_i A_i ~ f(x) - f(b) in expectation. The baseline is the constant fill image.

Captum draws from torch's and numpy's global generators for the whole batch at once; each sample
is therefore run under its own seed from (seed, image content) (``per_sample_seeded``), which
makes the result deterministic and independent of the batch.
"""

from __future__ import annotations

from captum.attr import GradientShap as _CaptumGradientShap
from torch import Tensor, nn

from attrbench.api import AttributionMethod, MethodInfo, ModelSpec, Resolution, Target
from attrbench.memory import MemoryLimited, with_oom_halving
from attrbench.methods.common import captum_args, check_float, check_int, grad_leaf, per_sample_seeded

__all__ = ["GradientShap"]


class GradientShap(MemoryLimited, AttributionMethod):
    """Expected gradients between a constant baseline and (noisy) inputs.

    Args:
        baseline: pixel-space fill value of b.
        n_samples: random (t, eps) draws per sample.
        stdevs: standard deviation of the input noise eps (pixel units; 0 = none).
        seed: seeds the draws.

    Under a memory limit (:mod:`attrbench.memory`) the ``n_samples`` draws of a sample are taken in
    groups of at most ``pass_images`` and averaged with weights = group sizes (the same estimator;
    the draws come in another order); on a GPU an out-of-memory error halves the groups.
    """

    info = MethodInfo(
        name="gradientshap",
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
        n_samples: int = 16,
        stdevs: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__(model, spec=spec)
        self.baseline = check_float("baseline", baseline)
        self.n_samples = check_int("n_samples", n_samples)
        self.stdevs = check_float("stdevs", stdevs, minimum=0.0)
        self.seed = check_int("seed", seed, minimum=0)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        """(B, 3, H, W) -> (B, 3, H, W)."""
        method = _CaptumGradientShap(target.forward_func(self.model))

        def run(group: int) -> Tensor:
            def one(x: Tensor, t: Target) -> Tensor:
                total = None
                for start in range(0, self.n_samples, group):
                    k = min(group, self.n_samples - start)
                    part = method.attribute(
                        inputs=grad_leaf(x),
                        baselines=x.new_full((1, *x.shape[1:]), self.baseline),
                        n_samples=k,
                        stdevs=self.stdevs,
                        additional_forward_args=captum_args(t),
                    ).detach() * (k / self.n_samples)
                    total = part if total is None else total + part
                assert total is not None
                return total

            return per_sample_seeded(one, inputs, target, self.seed)

        if self.pass_images is None or self.pass_images >= self.n_samples:
            return run(self.n_samples)
        return with_oom_halving(run, self.pass_images, on_halve=self._halved_pass)
