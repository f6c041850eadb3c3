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
        text: the claim in one sentence, in our words.
        paper: the paper's number(s), as text.
        rule: how the README decides "holds" / "does not hold" / "inconclusive" from our tables.
    """

    key: str
    experiment: str
    text: str
    paper: str
    rule: str


CLAIMS: tuple[Claim, ...] = (
    Claim("bagnet_additive", "bagnet-interaction",
          "in the interaction test a BagNet gives correlation 1 (parts farther apart than its receptive field "
          "add up exactly), standard networks less",
          "1 for BagNets by construction; below 1 for VGG-16 and deeper networks",
          "holds: every BagNet's pooled r >= 1 - 1e-6 at every q >= r - 1 and every comparison network's r "
          "below 1 - 1e-6 (beyond float32 noise) at the same q; inconclusive: no such q or no comparison network"),
    Claim("interaction_distance", "bagnet-interaction",
          "for VGG-16, image parts more than about 30 px apart barely interact",
          "about 30 px at 224 px",
          "the smallest q with pooled r >= 0.9 for the VGG-like network, scaled to 224 px; holds: <= 60 px; "
          "inconclusive: no VGG-like network"),
    Claim("interaction_depth", "bagnet-interaction",
          "interaction grows with depth and accuracy of the network",
          "qualitative",
          "holds: the more accurate comparison network has the lower mean pooled r over q; inconclusive: "
          "fewer than two comparison networks or overlapping top-1 intervals"),
    Claim("logit_correlation", "bagnet-logit-correlation",
          "BagNet logits correlate with VGG-16's, more strongly for larger q",
          "Pearson 0.70 / 0.79 / 0.88 for BagNet-9 / 17 / 33",
          "holds: pooled r with the VGG-like network(s) increases with q; does not hold: a larger-q BagNet's "
          "interval lies wholly below a smaller-q one's; inconclusive: order broken within the intervals"),
    Claim("scrambling_vgg", "bagnet-scrambling",
          "VGG-16 keeps much of its accuracy on scrambled (texturised) images",
          "top-5 90.1 % -> 79.4 %",
          "holds: the VGG-like network keeps >= half of its top-1 above chance at the median tile side; "
          "inconclusive: at chance on the original images"),
    Claim("scrambling_depth", "bagnet-scrambling",
          "deeper networks lose more accuracy on scrambled images than VGG-16",
          "qualitative (ResNet-50, ResNet-152, DenseNet-169 drop more)",
          "holds: every other comparison network keeps a smaller share than the VGG-like one; inconclusive: "
          "no other comparison network"),
    Claim("scrambling_bagnet", "bagnet-scrambling",
          "a BagNet-q is unaffected by shuffling tiles aligned to its stride and larger than q, up to the patches "
          "that straddle tile borders",
          "follows from the model (BagNet-q sees only q x q patches)",
          "holds: at every aligned tile t >= q the scrambled top-1 lies in the unscrambled top-1's Wilson 95 % "
          "interval; inconclusive: no aligned tile >= q"),
    Claim("errors", "bagnet-errors",
          "error distributions over classes are consistent across models",
          "qualitative",
          "holds: the mean over model pairs of the Pearson r of per-class accuracies is >= 0.5 and no pair's "
          "interval lies wholly below 0"),
    Claim("spatial_bagnet_order", "bagnet-spatial-sensitivity",
          "masking 8 x 8 patches in the BagNet heatmap's order lowers another network's class probability "
          "faster than attribution methods computed on that network (white box)",
          "Fig. 8: BagNet order steepest",
          "holds: for every comparison network some BagNet order beats every method (paired 95 % interval > 0); "
          "does not hold: none beats any; inconclusive: in between"),
    Claim("spatial_vgg", "bagnet-spatial-sensitivity",
          "VGG-16 is the most sensitive of the networks to local masking",
          "Fig. 8: qualitative",
          "random-order drop AUC; holds: the VGG-like network's is largest; does not hold: another's interval lies "
          "wholly above it; inconclusive: otherwise or no other network"),
    Claim("patches", "bagnet-predictive-patches",
          "the most predictive patches of a class come from (show) that class",
          "qualitative (image galleries)",
          "holds: every BagNet's purity has its Wilson 95 % interval above chance (1 / classes)"),
)
