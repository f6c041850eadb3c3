"""Targets for embedding networks: triplet loss with the explained image as anchor, cosine
similarity to a reference embedding, and the dot product with a class proxy.

Triplet loss (Schroff et al., FaceNet 2015; differentiated for Grad-CAM by Chen et al., WACV 2020,
arXiv 2001.06538), with f(a) the embedding of the explained image and (p, n) reference embeddings:

    L(a, p, n) = [ ||f(a) - p||^2 - ||f(a) - n||^2 + m ]_+

Sign convention (which direction of L a map explains), a named option:
    "descent" (default): the target is -L, so Grad-CAM weights are -dL/dA: evidence that *lowers*
        the loss, i.e. makes the anchor closer to its positive than to its negative;
    "ascent": the target is +L.
``hinge=False`` drops the [.]_+ so that triplets the model already satisfies still give a
gradient (on a trained net most random triplets do; with the hinge their weights are exactly 0).

With several reference pairs per anchor, ``positive``/``negative`` are (B, N, D) and the target is
the mean over the N triplets; methods that need one gradient per triplet use
:meth:`TripletLoss.per_triplet`.

Class proxy (Bachhawat, "Generalizing GradCAM for Embedding Networks", arXiv 2402.00909,
EmbeddingCAM's "normalised mean proxy"): p_c = normalize(mean of the embeddings of class c in a
reference set) and the target is L_c = <f(x), p_c>; with unit embeddings this is the cosine
similarity to the class mean. No triplets are sampled (:class:`ClassProxy`, :func:`class_proxies`).
"""

from __future__ import annotations

from typing import Literal, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

from attrbench.api import Target
from attrbench.errors import OptionError, OptionTypeError

__all__ = ["SIGNS", "ClassProxy", "CosineSimilarity", "TripletLoss", "carried_target", "class_proxies",
           "sample_triplets", "triplet_loss"]

Sign = Literal["descent", "ascent"]
SIGNS: tuple[str, ...] = ("descent", "ascent")


def triplet_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *, margin: float, hinge: bool = True) -> Tensor:
    """L = [||a - p||^2 - ||a - n||^2 + margin]_+ over the last dimension.

    Shapes: anchor, positive, negative broadcastable, (..., D) -> (...).
    """
    value = (anchor - positive).pow(2).sum(-1) - (anchor - negative).pow(2).sum(-1) + margin
    return F.relu(value) if hinge else value


class TripletLoss(Target):
    """Signed triplet loss with the explained image as anchor; one scalar per sample.

    Args:
        positive: (B, D) or (B, N, D) positive embeddings per sample.
        negative: same shape as ``positive``.
        margin: m (the training margin is the natural choice).
        sign: "descent" (target -L, default) or "ascent" (target +L).
        hinge: keep the [.]_+ of the loss.

    Call: ``target(output (B, D), positive, negative) -> (B,)``, the mean over the N triplets.
    """

    def __init__(
        self,
        positive: Tensor,
        negative: Tensor,
        *,
        margin: float = 0.2,
        sign: Sign = "descent",
        hinge: bool = True,
    ) -> None:
        if positive.shape != negative.shape or positive.ndim not in (2, 3):
            raise ValueError(
                f"positive and negative must both be (B, D) or (B, N, D), got {tuple(positive.shape)} "
                f"and {tuple(negative.shape)}"
            )
        if sign not in SIGNS:
            raise OptionError(f"sign must be one of {SIGNS}, got {sign!r}")
        self.positive = positive
        self.negative = negative
        self.margin = float(margin)
        self.sign = sign
        self.hinge = bool(hinge)
        self.per_sample = (positive, negative)

    @property
    def num_triplets(self) -> int:
        return 1 if self.positive.ndim == 2 else self.positive.shape[1]

    def per_triplet(self, output: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        """Signed loss per triplet.

        Shapes: output (B, D), or (B, N, D) with one anchor embedding per triplet;
        positive/negative (B, [N,] D) -> (B, N).
        """
        if positive.ndim == 2:
            positive, negative = positive.unsqueeze(1), negative.unsqueeze(1)
        if output.ndim == 2:
            output = output.unsqueeze(1)
        loss = triplet_loss(output, positive, negative, margin=self.margin, hinge=self.hinge)
        return -loss if self.sign == "descent" else loss

    def __call__(self, output: Tensor, *per_sample: Tensor) -> Tensor:
        positive, negative = per_sample
        return self.per_triplet(output, positive, negative).mean(1)

    def subset(self, index: Tensor | slice) -> TripletLoss:
        return TripletLoss(self.positive[index], self.negative[index], margin=self.margin, sign=self.sign,
                           hinge=self.hinge)

    def __repr__(self) -> str:
        return f"TripletLoss(N={self.num_triplets}, margin={self.margin}, sign={self.sign!r}, hinge={self.hinge})"


class CosineSimilarity(Target):
    """cos(f(x), r) for a reference embedding r per sample (pytorch-grad-cam's embedding target).

    Args:
        reference: (B, D) reference embeddings (e.g. the mean embedding of the other images of
            the sample's class).
        triplets: optional :class:`TripletLoss` for the same samples, carried along so that
            metric-learning Grad-CAM explains its triplet loss while every other method and the
            deletion metric use this similarity; kept in step by :meth:`subset`.
        proxy: optional :class:`ClassProxy` for the same samples, carried the same way for the
            proxy method (``embeddingcam``).

    Call: ``target(output (B, D), reference) -> (B,)``.
    """

    def __init__(self, reference: Tensor, *, triplets: TripletLoss | None = None,
                 proxy: ClassProxy | None = None) -> None:
        if reference.ndim != 2:
            raise ValueError(f"reference must be (B, D), got shape {tuple(reference.shape)}")
        for name, n in (("triplets", None if triplets is None else triplets.positive.shape[0]),
                        ("proxy", None if proxy is None else proxy.proxy.shape[0])):
            if n is not None and n != reference.shape[0]:
                raise ValueError(f"{name} hold {n} samples but reference {reference.shape[0]}")
        self.reference = reference
        self.triplets = triplets
        self.proxy = proxy
        self.per_sample = (reference,)

    def __call__(self, output: Tensor, *per_sample: Tensor) -> Tensor:
        (reference,) = per_sample
        return F.cosine_similarity(output, reference, dim=1)

    def subset(self, index: Tensor | slice) -> CosineSimilarity:
        triplets = None if self.triplets is None else self.triplets.subset(index)
        proxy = None if self.proxy is None else self.proxy.subset(index)
        return CosineSimilarity(self.reference[index], triplets=triplets, proxy=proxy)

    def __repr__(self) -> str:
        return "CosineSimilarity()"


_T = TypeVar("_T", bound=Target)


def carried_target(target: Target, *, kind: type[_T], method: str, explains: str) -> _T:
    """The ``kind`` target behind ``target``: itself, or the one a :class:`CosineSimilarity` carries.

    Args:
        target: the target a method was called with.
        kind: :class:`TripletLoss` (attribute ``triplets``) or :class:`ClassProxy` (``proxy``).
        method: the method's registry name, for the error.
        explains: what the method explains, for the error ("a triplet loss").

    Raises:
        OptionTypeError: ``target`` is neither a ``kind`` nor a similarity target carrying one.
    """
    if isinstance(target, kind):
        return target
    carried = getattr(target, _CARRIED[kind], None) if isinstance(target, CosineSimilarity) else None
    if carried is not None:
        return carried
    raise OptionTypeError(
        f"{method} explains {explains}: give a {kind.__name__} target (attrbench.embedding.targets) or run it "
        f"through the embedding track (--track embedding), whose targets carry one; got {target!r}"
    )


class ClassProxy(Target):
    """L_c = <f(x), p_c>, the dot product with the sample's class proxy (module docstring).

    Args:
        proxy: (B, D) the proxy of each sample's class, unit length (:func:`class_proxies`).

    Call: ``target(output (B, D), proxy) -> (B,)``.
    """

    def __init__(self, proxy: Tensor) -> None:
        if proxy.ndim != 2:
            raise ValueError(f"proxy must be (B, D), got shape {tuple(proxy.shape)}")
        self.proxy = proxy
        self.per_sample = (proxy,)

    def __call__(self, output: Tensor, *per_sample: Tensor) -> Tensor:
        (proxy,) = per_sample
        return (output * proxy).sum(-1)

    def subset(self, index: Tensor | slice) -> ClassProxy:
        return ClassProxy(self.proxy[index])

    def __repr__(self) -> str:
        return "ClassProxy()"


def class_proxies(embeddings: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Normalised mean embedding of every class: (P, D), (P,) -> classes (C,) and proxies (C, D).

    ``proxies[i]`` belongs to ``classes[i]`` (sorted labels); each row has unit length.
    """
    classes, inverse = labels.unique(return_inverse=True)
    sums = torch.zeros(classes.numel(), embeddings.shape[1], dtype=embeddings.dtype, device=embeddings.device)
    sums.index_add_(0, inverse.to(embeddings.device), embeddings)
    return classes, F.normalize(sums, dim=1)


def sample_triplets(
    labels: Tensor,
    *,
    anchors: Tensor,
    anchor_labels: Tensor,
    n: int,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """Draw N (positive, negative) indices into a labelled pool for each anchor.

    Positives are pool items of the anchor's class other than the anchor itself; negatives are
    items of any other class; both drawn uniformly with replacement.

    Args:
        labels: (P,) class of every pool item.
        anchors: (B,) pool index of each anchor, or -1 for an anchor outside the pool.
        anchor_labels: (B,) class of each anchor.
        n: triplets per anchor.
        generator: seeded CPU generator.

    Returns:
        (B, N) positive indices and (B, N) negative indices into the pool.

    Raises:
        ValueError: an anchor's class has no other pool item, or no other class exists.
    """
    labels = labels.cpu()
    positions = torch.arange(labels.numel())
    pos_out, neg_out = [], []
    for anchor, label in zip(anchors.tolist(), anchor_labels.tolist()):
        same = (labels == label) & (positions != anchor)
        pos_pool, neg_pool = positions[same], positions[labels != label]
        if pos_pool.numel() == 0 or neg_pool.numel() == 0:
            raise ValueError(
                f"class {label} has {pos_pool.numel()} other images and {neg_pool.numel()} images of other classes "
                "in the reference pool; a triplet needs at least one of each"
            )
        pos_out.append(pos_pool[torch.randint(pos_pool.numel(), (n,), generator=generator)])
        neg_out.append(neg_pool[torch.randint(neg_pool.numel(), (n,), generator=generator)])
    return torch.stack(pos_out), torch.stack(neg_out)


#: the attribute of :class:`CosineSimilarity` that carries each kind of target.
_CARRIED: dict[type[Target], str] = {TripletLoss: "triplets", ClassProxy: "proxy"}
