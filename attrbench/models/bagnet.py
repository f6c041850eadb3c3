"""BagNet-9/17/33: the exact official architecture (Brendel & Bethge, ICLR 2019, arXiv 1904.00760).

A ResNet-50 skeleton without padding in which only the first ``kernel3[s]`` blocks of stage s
have a 3x3 convolution, so every position of the final feature map sees a q x q pixel patch
(q = 9, 17, 33) at a stride of 8 pixels. The image logit is the mean of per-position logits,
bias included: f(x) = (1/N) sum_p l_p(x), with l_p = W_fc A_p + b_fc.

Parity with the official ``bagnets/pytorchnet.py`` (commit 8493fb4):
    * state_dict keys are the official 321 names (conv1, conv2, bn1, layer1..4, fc);
    * stem 1x1 -> 3x3 (padding 0) -> BN(momentum=0.001) -> ReLU; strides (2, 2, 2, 1);
    * residual cropped at the bottom/right when larger than the block output;
    * initialisation N(0, sqrt(2 / (k*k*out))) for convs, BN gamma=1, beta=0.
Differences, none of which changes the state_dict or the function:
    * three separate, non-inplace ReLU modules per block (Captum's DeepLift and hook-based
      methods fail on a module that is called several times);
    * ``forward`` pools by a mean over positions, so non-square inputs work (the official
      ``AvgPool2d(x.size(2))`` crashes on them); ``patch_logits`` gives the per-position logits;
    * ``width`` and ``layers`` shrink the network for CPU training; ``width=64`` and
      ``layers=(3, 4, 6, 3)`` are the official sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from attrbench.models.batchnorm import BatchNorm2d

__all__ = ["BagNet", "Bottleneck", "ReceptiveField", "bagnet9", "bagnet17", "bagnet33", "BAGNET_KERNEL3"]

#: number of leading 3x3 blocks per stage, by receptive field q.
BAGNET_KERNEL3: dict[int, tuple[int, int, int, int]] = {
    9: (1, 1, 0, 0),
    17: (1, 1, 1, 0),
    33: (1, 1, 1, 1),
}


@dataclass(frozen=True)
class ReceptiveField:
    """Patch geometry of a BagNet: position (i, j) sees rows [s*i, s*i + q - 1], same for cols.

    Attributes:
        size: q, the patch side in pixels.
        stride: s, the pixel distance between neighbouring positions (8).
    """

    size: int
    stride: int = 8

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """Patch grid (H', W') for an input of (height, width): H' = (H - q) // s + 1."""
        if height < self.size or width < self.size:
            raise ValueError(f"input {height}x{width} is smaller than the receptive field {self.size}")
        return (height - self.size) // self.stride + 1, (width - self.size) // self.stride + 1

    def box(self, i: int, j: int) -> tuple[int, int, int, int]:
        """Pixel box of position (i, j) as (row0, row1, col0, col1), end-exclusive."""
        r0, c0 = self.stride * i, self.stride * j
        return r0, r0 + self.size, c0, c0 + self.size

    def coverage(self, height: int, width: int) -> Tensor:
        """(H, W) count of patches that see each pixel (0 for the uncovered border)."""
        gh, gw = self.grid(height, width)
        rows = torch.zeros(height)
        cols = torch.zeros(width)
        for i in range(gh):
            rows[self.stride * i : self.stride * i + self.size] += 1
        for j in range(gw):
            cols[self.stride * j : self.stride * j + self.size] += 1
        return rows[:, None] * cols[None, :]


def _conv_init(module: nn.Conv2d) -> None:
    if module.weight.is_meta:  # a shape check (checkpoint loading): the first normal_ on meta costs seconds
        return
    n = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
    module.weight.data.normal_(0, math.sqrt(2.0 / n))


class Bottleneck(nn.Module):
    """ResNet bottleneck without padding; ``kernel_size`` 1 or 3 on the middle conv.

    Shapes: (B, inplanes, H, W) -> (B, 4 * planes, H'', W'') with H'' = (H - k) // stride + 1.
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        *,
        stride: int = 1,
        downsample: nn.Module | None = None,
        kernel_size: int = 1,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=kernel_size, stride=stride, padding=0, bias=False)
        self.bn2 = BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = BatchNorm2d(planes * 4)
        self.relu3 = nn.ReLU()
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        residual = x
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            residual = self.downsample(x)
        dh = residual.size(-2) - out.size(-2)
        dw = residual.size(-1) - out.size(-1)
        if dh > 0 or dw > 0:  # crop bottom/right, as the official code does
            residual = residual[:, :, : residual.size(-2) - dh, : residual.size(-1) - dw]
        return self.relu3(out + residual)


class BagNet(nn.Module):
    """BagNet with receptive field ``q``.

    Args:
        q: receptive field (9, 17 or 33).
        num_classes: outputs of ``fc``.
        width: channels of the stem and of stage 1 (official 64); stages use width * (1, 2, 4, 8).
        layers: blocks per stage (official (3, 4, 6, 3)).
        strides: strides of the four stages (official factories: (2, 2, 2, 1)).

    Shapes:
        forward: (B, 3, H, W) normalised images -> (B, num_classes) logits.
        features: -> (B, 8 * 4 * width / 2 ..., H', W') = A, the layer4 output.
        patch_logits: -> (B, H', W', num_classes) = l_p.
    """

    def __init__(
        self,
        q: int = 33,
        *,
        num_classes: int = 1000,
        width: int = 64,
        layers: tuple[int, int, int, int] = (3, 4, 6, 3),
        strides: tuple[int, int, int, int] = (2, 2, 2, 1),
    ) -> None:
        super().__init__()
        if q not in BAGNET_KERNEL3:
            raise ValueError(f"q must be one of {sorted(BAGNET_KERNEL3)}, got {q}")
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"layers must be four positive block counts, got {layers}")
        kernel3 = BAGNET_KERNEL3[q]
        self.q = q
        self.rf = ReceptiveField(size=q, stride=math.prod(strides))
        self.num_classes = num_classes
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=1, stride=1, padding=0, bias=False)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=1, padding=0, bias=False)
        self.bn1 = BatchNorm2d(width, momentum=0.001)
        self.relu = nn.ReLU()
        self.layer1 = self._make_layer(width, layers[0], stride=strides[0], kernel3=kernel3[0])
        self.layer2 = self._make_layer(width * 2, layers[1], stride=strides[1], kernel3=kernel3[1])
        self.layer3 = self._make_layer(width * 4, layers[2], stride=strides[2], kernel3=kernel3[2])
        self.layer4 = self._make_layer(width * 8, layers[3], stride=strides[3], kernel3=kernel3[3])
        self.num_features = width * 8 * Bottleneck.expansion
        self.fc = nn.Linear(self.num_features, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                _conv_init(m)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()

    def _make_layer(self, planes: int, blocks: int, *, stride: int, kernel3: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, kernel_size=1, stride=stride, bias=False),
                BatchNorm2d(planes * Bottleneck.expansion),
            )
        # kernel3 rule: block 0 is 3x3 iff kernel3 != 0; block i >= 1 iff kernel3 > i.
        mods = [
            Bottleneck(
                self.inplanes,
                planes,
                stride=stride,
                downsample=downsample,
                kernel_size=1 if kernel3 == 0 else 3,
            )
        ]
        self.inplanes = planes * Bottleneck.expansion
        for i in range(1, blocks):
            mods.append(Bottleneck(self.inplanes, planes, kernel_size=1 if kernel3 <= i else 3))
        return nn.Sequential(*mods)

    def features(self, x: Tensor) -> Tensor:
        """A = layer4(stem(x)): (B, 3, H, W) -> (B, num_features, H', W')."""
        x = self.relu(self.bn1(self.conv2(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def patch_logits(self, x: Tensor) -> Tensor:
        """Per-position logits l_p: (B, 3, H, W) -> (B, H', W', num_classes)."""
        return self.fc(self.features(x).permute(0, 2, 3, 1))

    def forward(self, x: Tensor) -> Tensor:
        """Image logits f(x) = fc(mean_p A_p) = mean_p l_p: (B, 3, H, W) -> (B, num_classes)."""
        return self.fc(self.features(x).mean(dim=(2, 3)))


def _factory(q: int):
    def make(
        num_classes: int = 1000,
        *,
        width: int = 64,
        layers: tuple[int, int, int, int] = (3, 4, 6, 3),
        strides: tuple[int, int, int, int] = (2, 2, 2, 1),
    ) -> BagNet:
        return BagNet(q, num_classes=num_classes, width=width, layers=tuple(layers), strides=tuple(strides))  # type: ignore[arg-type]

    make.__name__ = f"bagnet{q}"
    make.__doc__ = f"BagNet-{q} (receptive field {q}x{q}); official sizes by default, see :class:`BagNet`."
    return make


bagnet9 = _factory(9)
bagnet17 = _factory(17)
bagnet33 = _factory(33)
