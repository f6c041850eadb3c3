"""The BagNet paper's reported points, as constants: what ``results/bagnet/README.md`` compares against.

Source: W. Brendel and M. Bethge, "Approximating CNNs with Bag-of-local-Features models works
surprisingly well on ImageNet", ICLR 2019, arXiv 1904.00760, the section comparing standard
networks with BagNets (logit correlation, interaction of image parts, error distributions, spatial
sensitivity in Fig. 8) and its scrambled-image comparison. All numbers are on ImageNet (224 x 224
px images, 1000 classes) with VGG-16 and deeper networks (ResNet, DenseNet) as comparison networks;
ours are small networks on small images, so the verdicts compare tendencies, not values.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CLAIMS", "Claim", "PAPER_IMAGE_SIZE", "VGG_INTERACTION_DISTANCE_PX", "VGG_LOGIT_PEARSON",
           "VGG_SCRAMBLED_TOP5"]  # fmt: skip

#: side of the paper's images in pixels (distances in px scale with it).
PAPER_IMAGE_SIZE = 224
#: Pearson correlation of BagNet-q logits with VGG-16 logits, q -> r.
VGG_LOGIT_PEARSON: dict[int, float] = {9: 0.70, 17: 0.79, 33: 0.88}
#: VGG-16 top-5 accuracy on original and on texturised (scrambled) images, in %.
VGG_SCRAMBLED_TOP5: tuple[float, float] = (90.1, 79.4)
#: distance in px beyond which image parts barely interact for VGG-16.
VGG_INTERACTION_DISTANCE_PX = 30


@dataclass(frozen=True)
class Claim:
    """One reported point of the paper.

    Attributes:
        key: identifier used by :mod:`attrbench.experiments.bagnet.readme`.
        experiment: the bagnet-* experiment that tests it.
        text: the claim in one sentence.
        paper: the paper's number(s), as text.
    """

    key: str
    experiment: str
    text: str
    paper: str


CLAIMS: tuple[Claim, ...] = (
    Claim("logit_correlation", "bagnet-logit-correlation",
          "BagNet logits correlate with VGG-16's, more strongly for larger q",
          "Pearson 0.70 / 0.79 / 0.88 for BagNet-9 / 17 / 33"),
    Claim("scrambling_vgg", "bagnet-scrambling",
          "VGG-16 keeps much of its accuracy on scrambled (texturised) images",
          "top-5 90.1 % -> 79.4 %"),
    Claim("scrambling_depth", "bagnet-scrambling",
          "deeper networks lose more accuracy on scrambled images than VGG-16",
          "qualitative (ResNet-50, ResNet-152, DenseNet-169 drop more)"),
    Claim("interaction_distance", "bagnet-interaction",
          "for VGG-16, image parts more than about 30 px apart barely interact",
          "about 30 px at 224 px"),
    Claim("interaction_depth", "bagnet-interaction",
          "interaction grows with depth and accuracy of the network",
          "qualitative"),
    Claim("bagnet_additive", "bagnet-interaction",
          "a BagNet is exactly additive over parts farther apart than its receptive field (by construction)",
          "Pearson 1 (exact)"),
    Claim("errors", "bagnet-errors",
          "error distributions over classes are consistent across models",
          "qualitative"),
    Claim("spatial_bagnet_order", "bagnet-spatial-sensitivity",
          "masking 8 x 8 patches in the BagNet heatmap's order lowers another network's class probability "
          "faster than attribution methods computed on that network (white box)",
          "Fig. 8: BagNet order steepest"),
    Claim("spatial_vgg", "bagnet-spatial-sensitivity",
          "VGG-16 is the most sensitive of the networks to local masking",
          "Fig. 8: qualitative"),
    Claim("patches", "bagnet-predictive-patches",
          "the most predictive patches of a class show class-typical features",
          "qualitative (image galleries)"),
)
