"""BatchNorm whose eval-mode backward computes only what attribution needs (issue 17, the default run's cost).

In eval mode a BatchNorm is ``y = a * x + b`` per channel, with ``a = w / sqrt(var + eps)`` and
``b = beta - mean * a``. Under autograd PyTorch's module also computes the gradients of ``w`` and
``beta``, which no attribution method uses (they explain inputs and activations, not parameters),
and its backward kernel has no channels-last fast path. :class:`BatchNorm2d` in eval mode:

* when a gradient will flow back through it (grad mode on and ``x.requires_grad``), computes ``a``
  and ``b`` from detached parameters and applies them with one fused multiply-add, so the backward
  pass is one per-channel multiplication in the input's memory layout;
* otherwise (forward passes of perturbation curves, truths, predictions) calls PyTorch's fused
  kernel with detached parameters: the same numbers as ``nn.BatchNorm2d``.

Measured on the shipped BagNet-17 at 97 px, IG on 8 images (32 steps, 2 threads, interleaved):
0.91x the time of ``nn.BatchNorm2d``, and 0.57x with channels-last memory (``nn.BatchNorm2d`` with
channels-last: 0.74x); attributions differ by float32 rounding (largest 3e-4 of a largest value of
1.5: a rounding difference can flip a ReLU whose input is within rounding of zero, and with it a
whole gradient path). docs/forward_batches.md, "Memory layout".

Training mode is ``nn.BatchNorm2d`` unchanged (batch statistics, running averages, parameter
gradients), the parameters and buffers have the same names, so state dicts are interchangeable,
and ``isinstance(m, nn.BatchNorm2d)`` holds: re-initialisation (MPRT), the BatchNorm
recalibration after training and the deconvnet treat it as before.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BatchNorm2d"]


class BatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose eval-mode gradient path is ``a * x + b`` (see the module docstring).

    Shapes: (B, C, H, W) -> (B, C, H, W). In eval mode the parameters receive no gradient.
    """

    def forward(self, x: Tensor) -> Tensor:
        if self.training or not self.track_running_stats or self.running_var is None or self.running_mean is None:
            return super().forward(x)
        weight = None if self.weight is None else self.weight.detach()
        bias = None if self.bias is None else self.bias.detach()
        if not (torch.is_grad_enabled() and x.requires_grad):  # forward only: PyTorch's fused kernel
            return F.batch_norm(x, self.running_mean, self.running_var, weight, bias, False, 0.0, self.eps)
        scale = torch.rsqrt(self.running_var.detach() + self.eps)
        if weight is not None:
            scale = scale * weight
        shift = -self.running_mean.detach() * scale
        if bias is not None:
            shift = shift + bias
        shape = (1, -1, 1, 1)
        return torch.addcmul(shift.to(x.dtype).view(shape), x, scale.to(x.dtype).view(shape))
