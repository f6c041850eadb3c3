"""Comparison networks with unrestricted receptive fields: a small ResNet and a small VGG.

The BagNet paper compares BagNets with standard ImageNet networks (VGG-16, ResNet-50, ...). These
are their scaled-down counterparts for the 2-core budget of attrbench's shipped models, trained by
``attrbench train --arch resnet|vgg`` on the same data and with the same recipe as the BagNets:

* :func:`small_resnet`: a 3x3 stem, then four stages of ``blocks`` basic residual blocks
  (two 3x3 convolutions + identity or 1x1 projection shortcut, He et al., CVPR 2016) with widths
  ``w, 2w, 4w, 8w`` and strides ``stem_stride, 2, 2, 2``; global average pooling; a linear layer.
* :func:`small_vgg`: four stages of ``convs`` (3x3 conv -> BN -> ReLU) blocks, each stage closed
  by 2x2 max-pooling (Simonyan & Zisserman, ICLR 2015, with BatchNorm); widths ``w, 2w, 4w, 8w``;
  global average pooling; a linear layer. Max-pooling makes it the network for the Zeiler-Fergus
  deconvnet (switch unpooling).

Both pad every convolution ("same" padding), so the last stage's units see the whole image:
logits are *not* a mean of local patch logits (no ground truth; ``receptive_field`` is None).
Shapes: (B, 3, H, W) normalised images -> (B, num_classes) logits.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from attrbench.models.batchnorm import BatchNorm2d

__all__ = ["BasicBlock", "SmallResNet", "SmallVGG", "small_resnet", "small_vgg"]


def _init(module: nn.Module) -> None:
    if any(p.is_meta for p in module.parameters()):  # a shape check: normal_ on meta costs seconds
        return
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / math.sqrt(m.in_features)
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers plus a shortcut; separate ReLU modules (Captum needs one call each)."""

    def __init__(self, cin: int, cout: int, *, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = BatchNorm2d(cout)
        self.relu2 = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class SmallResNet(nn.Module):
    """See the module docstring. Layers ``layer1`` .. ``layer4`` are the CAM layers."""

    def __init__(self, num_classes: int, *, width: int = 16, blocks: int = 1, stem_stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, stride=stem_stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(width)
        self.relu = nn.ReLU()
        stages, cin = [], width
        for s, mult in enumerate((1, 2, 4, 8)):
            cout = width * mult
            stage = [BasicBlock(cin, cout, stride=1 if s == 0 else 2)]
            stage += [BasicBlock(cout, cout, stride=1) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        _init(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


class SmallVGG(nn.Module):
    """See the module docstring. ``features`` holds the stages; ``stage1`` .. ``stage4`` index it."""

    def __init__(self, num_classes: int, *, width: int = 16, convs: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for mult in (1, 2, 4, 8):
            cout = width * mult
            for _ in range(convs):
                layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), BatchNorm2d(cout), nn.ReLU()]
                cin = cout
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        _init(self)

    def stage_ends(self) -> tuple[int, ...]:
        """Indices in ``features`` of the four max-pooling layers (the ends of the stages)."""
        return tuple(i for i, m in enumerate(self.features) if isinstance(m, nn.MaxPool2d))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def small_resnet(num_classes: int = 10, *, width: int = 16, blocks: int = 1, stem_stride: int = 1) -> SmallResNet:
    """A small ResNet (see the module docstring); ``stem_stride=2`` for scenes of ~100 px."""
    return SmallResNet(num_classes, width=width, blocks=blocks, stem_stride=stem_stride)


def small_vgg(num_classes: int = 10, *, width: int = 16, convs: int = 2) -> SmallVGG:
    """A small VGG-style network with BatchNorm and max-pooling (see the module docstring)."""
    return SmallVGG(num_classes, width=width, convs=convs)
