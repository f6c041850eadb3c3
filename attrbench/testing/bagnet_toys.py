"""Small models for the tests of the BagNet-paper experiments (:mod:`attrbench.experiments.bagnet`).

* :func:`tiny_comparison`: a randomly initialised small ResNet (padding, global pooling: no patch
  structure) with randomised BatchNorm statistics, as an :class:`ImageModel`.
* ``toy_bagnet9`` / ``toy_bagnet17`` / ``toy_resnet``: ``module:factory`` names for the CLI
  (float32, 48 px, 5 classes), e.g. ``--bagnets attrbench.testing.bagnet_toys:toy_bagnet9``;
  ``toy_resnet_40px``: the same at 40 px (models at different input sizes in one run).
* :class:`BlockLinear`: class-0 logit = sum_b w_b * (sum of the pixels of 8 x 8 block b), class-1
  logit = 0, so masking block b with 0 lowers the class-0 logit by exactly w_b * s_b(x) and the
  masking curve is known in closed form.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attrbench.api import ModelSpec
from attrbench.models.common import ImageModel
from attrbench.models.comparison import small_resnet
from attrbench.testing.models import randomise_batchnorm, seeded, tiny_bagnet

__all__ = ["BlockLinear", "tiny_comparison", "toy_bagnet9", "toy_bagnet17", "toy_resnet", "toy_resnet_40px"]


def tiny_comparison(*, num_classes: int = 5, width: int = 4, seed: int = 0, dtype: torch.dtype = torch.float64,
                    input_size: tuple[int, int] = (48, 48)) -> ImageModel:  # fmt: skip
    """A random eval-mode small ResNet (CAM layer ``net.layer4``; no ground truth)."""
    net = seeded(lambda: small_resnet(num_classes, width=width), seed)
    randomise_batchnorm(net, generator=torch.Generator().manual_seed(seed))
    spec = ModelSpec(name="tiny-resnet", input_size=input_size, num_outputs=num_classes, cam_layer="net.layer4",
                     cam_layers=("net.layer3", "net.layer4"), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))  # fmt: skip
    return ImageModel(net, spec=spec).to(dtype).eval()


def toy_bagnet9() -> ImageModel:
    """``module:factory`` form of a float32 tiny BagNet-9 (48 px, 5 classes)."""
    return tiny_bagnet(9, dtype=torch.float32)


def toy_bagnet17() -> ImageModel:
    """``module:factory`` form of a float32 tiny BagNet-17 (48 px, 5 classes)."""
    return tiny_bagnet(17, seed=1, dtype=torch.float32)


def toy_resnet() -> ImageModel:
    """``module:factory`` form of a float32 tiny ResNet (48 px, 5 classes)."""
    return tiny_comparison(dtype=torch.float32)


def toy_resnet_40px() -> ImageModel:
    """``module:factory`` form of a float32 tiny ResNet at another input size (40 px, 5 classes)."""
    return tiny_comparison(dtype=torch.float32, seed=2, input_size=(40, 40))


class BlockLinear(nn.Module):
    """Two logits: (sum_b w_b s_b(x), 0), s_b(x) = sum of block b's pixels over channels (b x b blocks).

    Args:
        weights: (nh, nw) block weights w_b.
        block: block side in pixels.
    """

    def __init__(self, weights: Tensor, *, block: int = 8) -> None:
        super().__init__()
        self.block = block
        self.weights = nn.Parameter(weights.double(), requires_grad=False)

    def block_sums(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) -> (B, nh, nw) s_b(x)."""
        nh, nw = self.weights.shape
        b = self.block
        return x[:, :, : nh * b, : nw * b].reshape(x.shape[0], 3, nh, b, nw, b).sum(dim=(1, 3, 5))

    def forward(self, x: Tensor) -> Tensor:
        z = (self.block_sums(x) * self.weights).sum(dim=(1, 2))
        return torch.stack([z, torch.zeros_like(z)], dim=1)
