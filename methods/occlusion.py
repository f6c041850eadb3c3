"""Occlusion (Zeiler & Fergus, ECCV 2014, arXiv 1311.2901; Captum ``Occlusion``).

For every window w (all channels, ``window`` x ``window`` pixels, moved by ``stride``):
    D_w = f(x) - f(x with w filled by the baseline value),
and each pixel gets the mean D_w over the windows that contain it; (B, 3, H, W). Pixels that no
window covers (the bottom/right remainder) get 0. Window and stride 8 align with the BagNet
patch stride.
Captum returns float32 even for float64 inputs (relative precision ~1e-7); the result is cast
back to the input dtype.
"""

from __future__ import annotations

import torch
from captum.attr import Occlusion as _CaptumOcclusion
from torch import Tensor, nn

from attrbench.api import AttributionMethod, MethodInfo, ModelSpec, Resolution, Target
from attrbench.errors import OptionError
from attrbench.memory import MemoryLimited, with_oom_halving
from attrbench.methods.common import captum_args, check_float, check_int

__all__ = ["Occlusion"]


class Occlusion(MemoryLimited, AttributionMethod):
    """Sliding-window occlusion with a constant fill.

    Args:
        window: side of the square window in pixels.
        stride: step between windows in pixels.
        baseline: pixel-space fill value (0.0 = black).
        perturbations_per_eval: occluded copies of each sample per forward; under a memory limit
            (:mod:`attrbench.memory`) fewer, and the samples in groups, so that a forward holds at
            most ``forward_images`` images (the same result); halved on a GPU out-of-memory error.
    """

    info = MethodInfo(
        name="occlusion",
        paper="Zeiler & Fergus, ECCV 2014, arXiv 1311.2901",
        resolution=Resolution.INPUT,
        needs_baseline=True,
    )

    def __init__(
        self,
        model: nn.Module,
        *,
        spec: ModelSpec,
        window: int = 8,
        stride: int = 8,
        baseline: float = 0.0,
        perturbations_per_eval: int = 16,
    ) -> None:
        super().__init__(model, spec=spec)
        self.window = check_int("window", window)
        self.stride = check_int("stride", stride)
        self.baseline = check_float("baseline", baseline)
        self.perturbations_per_eval = check_int("perturbations_per_eval", perturbations_per_eval)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        """(B, 3, H, W) -> (B, 3, H, W)."""
        if min(inputs.shape[-2:]) < self.window:
            raise OptionError(f"occlusion window {self.window} is larger than the input {tuple(inputs.shape[-2:])}")
        if self.forward_images is None:
            return self._occlude(inputs, target, self.perturbations_per_eval)

        def run(limit: int) -> Tensor:
            rows = min(inputs.shape[0], limit)
            per_eval = max(1, min(self.perturbations_per_eval, limit // rows))
            parts = [self._occlude(inputs[i : i + rows], target.subset(slice(i, i + rows)), per_eval)
                     for i in range(0, inputs.shape[0], rows)]  # fmt: skip
            return torch.cat(parts)

        return with_oom_halving(run, self.forward_images, on_halve=self._halved_forward)

    def _occlude(self, inputs: Tensor, target: Target, per_eval: int) -> Tensor:
        c = inputs.shape[1]
        method = _CaptumOcclusion(target.forward_func(self.model))
        attr = method.attribute(
            inputs=inputs,
            sliding_window_shapes=(c, self.window, self.window),
            strides=(c, self.stride, self.stride),
            baselines=self.baseline,
            additional_forward_args=captum_args(target),
            perturbations_per_eval=per_eval,
        )
        # Captum divides by the window counts in float32 (``.float()``); return the input dtype
        return attr.detach().to(inputs.dtype)
