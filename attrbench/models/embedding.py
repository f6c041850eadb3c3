"""Embedding networks for the metric-learning track (Chen et al., WACV 2020, arXiv 2001.06538).

An :class:`EmbeddingNet` maps an image to a unit-length D-dimensional embedding:

    A = backbone(x)                      (B, C, h, w)  -- the CAM layer ("last conv features")
    e = normalize(W · mean_ij A + b)     (B, D),  ||e||_2 = 1

Two backbones:
    * ``"bagnet9"``/``"bagnet17"``/``"bagnet33"``: the exact BagNet of :mod:`attrbench.models.bagnet`
      whose ``fc`` is the embedding head (so the pre-normalisation embedding is the mean of
      per-patch embeddings, as a BagNet's logit is the mean of patch logits);
    * ``"resnet"``: a small padded ResNet (basic blocks), the usual shape of a metric-learning net;
      ``stem_stride=2`` halves the resolution in the stem (4x fewer operations in every later
      stage, the budget a CPU training needs at 97 px).

Trained with a triplet loss and semi-hard mining (Schroff et al., FaceNet, CVPR 2015) by
:mod:`attrbench.embedding.train`.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from attrbench.models.bagnet import BagNet
from attrbench.models.batchnorm import BatchNorm2d

__all__ = ["BACKBONES", "EmbeddingNet", "SmallResNet"]

BACKBONES: tuple[str, ...] = ("bagnet9", "bagnet17", "bagnet33", "resnet")


class _BasicBlock(nn.Module):
    """3x3-3x3 residual block with padding: (B, cin, H, W) -> (B, cout, H / stride, W / stride)."""

    def __init__(self, cin: int, cout: int, *, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = BatchNorm2d(cout)
        self.relu2 = nn.ReLU()  # separate modules: hook-based methods fail on a reused ReLU
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class SmallResNet(nn.Module):
    """A small ResNet: 3x3 stem (stride ``stem_stride``), then ``len(layers)`` stages of basic
    blocks, widths width * 2^s.

    Stage s > 0 halves the resolution. The last stage is named ``layer{len(layers)}`` (CAM layer).

    Shapes: features (B, 3, H, W) -> (B, width * 2^(S-1), H / (t 2^(S-1)), W / (t 2^(S-1))) with
    t = stem_stride (sizes rounded up); forward -> (B, dim) = fc(spatial mean of the features).
    """

    def __init__(self, *, width: int, layers: tuple[int, ...], dim: int, stem_stride: int = 1) -> None:
        super().__init__()
        if not layers or min(layers) < 1:
            raise ValueError(f"layers must be positive block counts, got {layers}")
        if stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {stem_stride}")
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, stride=stem_stride, padding=1, bias=False),
                                  BatchNorm2d(width), nn.ReLU())
        cin = width
        self.num_stages = len(layers)
        for s, blocks in enumerate(layers):
            cout = width * 2**s
            mods = [_BasicBlock(cin, cout, stride=1 if s == 0 else 2)]
            mods += [_BasicBlock(cout, cout, stride=1) for _ in range(blocks - 1)]
            setattr(self, f"layer{s + 1}", nn.Sequential(*mods))
            cin = cout
        self.num_features = cin
        self.fc = nn.Linear(cin, dim)

    def features(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        for s in range(self.num_stages):
            x = getattr(self, f"layer{s + 1}")(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


class EmbeddingNet(nn.Module):
    """Backbone + linear head + L2 normalisation.

    Args:
        backbone: one of :data:`BACKBONES`.
        width: channels of the first stage (BagNet: stage widths width * (1, 2, 4, 8) * 4;
            resnet: width * 2^s).
        layers: blocks per stage (BagNet: four counts).
        dim: embedding dimension D.
        stem_stride: resnet only, stride of the stem convolution (1 or 2).

    Attributes:
        cam_layer: dotted path, relative to this module, of the last conv features A.

    Shapes: forward (B, 3, H, W) normalised images -> (B, dim) unit vectors;
        features -> (B, C, h, w); embed(features) -> (B, dim).
    """

    def __init__(
        self,
        *,
        backbone: str = "bagnet17",
        width: int = 16,
        layers: tuple[int, ...] = (1, 1, 1, 1),
        dim: int = 128,
        stem_stride: int = 1,
    ) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {backbone!r}")
        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        self.backbone_name = backbone
        self.dim = dim
        if backbone.startswith("bagnet"):
            if stem_stride != 1:
                raise ValueError("stem_stride applies to the resnet backbone only (a BagNet's patches need stride 1)")
            if len(layers) != 4:
                raise ValueError(f"a BagNet backbone needs four stage block counts, got {layers}")
            self.backbone: nn.Module = BagNet(int(backbone[len("bagnet") :]), num_classes=dim, width=width,
                                              layers=tuple(layers))  # type: ignore[arg-type]
            self.cam_layer = "backbone.layer4"
        else:
            self.backbone = SmallResNet(width=width, layers=tuple(layers), dim=dim, stem_stride=stem_stride)
            self.cam_layer = f"backbone.layer{len(layers)}"
        self.num_features: int = self.backbone.num_features  # type: ignore[assignment]

    def features(self, x: Tensor) -> Tensor:
        """A: (B, 3, H, W) -> (B, C, h, w)."""
        return self.backbone.features(x)  # type: ignore[operator]

    def embed(self, features: Tensor) -> Tensor:
        """e = normalize(fc(mean_ij A)): (B, C, h, w) -> (B, dim)."""
        return F.normalize(self.backbone.fc(features.mean(dim=(2, 3))), dim=1)  # type: ignore[operator]

    def forward(self, x: Tensor) -> Tensor:
        return self.embed(self.features(x))
