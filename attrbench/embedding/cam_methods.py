"""Bases of the metric-learning CAM methods (mlgradcam.py, mlgradcampp.py, fastergradcam.py in
this package). Chen et al., WACV 2020, arXiv 2001.06538.

Both are siblings of Grad-CAM and Grad-CAM++ over :class:`attrbench.methods.cam.CamMethod` (layer,
weighted channel sum); they override its :meth:`~attrbench.methods.cam.CamMethod.channel_weights`
hook, and their per-image rule (:meth:`weights`) is the classification method's own function.

:class:`TripletCAM` (back-propagated): the anchor is the explained image; its N reference
triplets come from the target (a :class:`~attrbench.embedding.targets.TripletLoss`, or the
``triplets`` carried by the embedding track's
:class:`~attrbench.embedding.targets.CosineSimilarity`). Variants by keyword:
``n_triplets=1, top_k=None`` (one triplet), ``n_triplets=N, top_k=None`` (averaged),
``n_triplets=N, top_k=k`` (averaged + top-k, the default N = k = 50). Two more named options:
``top_k_by`` ("signed": the k largest averaged weights, default; "magnitude": the k largest
|w_k|) and ``explain`` ("negative_loss": differentiate -L, default; "loss": +L). Why these
defaults: docs/methods.md, "Grad-CAM for embedding networks".

:class:`TransferCAM` (weight transfer): one forward pass, no backward; channel weights of the
nearest k-means cluster of a :class:`~attrbench.embedding.database.WeightDatabase` built on the
training images, with the method's ``top_k_by`` and ``explain`` (the track builds one database
per option set through ``database_source``). The target is not used (documented contract of
transfer: the weights come from the training data, not from the test image's gradient).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from attrbench.api import ModelSpec, Target
from attrbench.embedding.cam import (
    EXPLAIN,
    TOP_K_RULES,
    WEIGHT_RULES,
    WeightRule,
    keep_top_k,
    triplet_channel_weights,
)
from attrbench.embedding.database import WeightDatabase
from attrbench.embedding.targets import TripletLoss, carried_target
from attrbench.errors import OptionTypeError
from attrbench.hooks import capture_output
from attrbench.methods.cam import CamMethod
from attrbench.methods.common import check_choice, check_int, check_optional_int

__all__ = ["EmbeddingCAM", "TransferCAM", "TripletCAM"]


class EmbeddingCAM(CamMethod):
    """A CAM of an embedding network whose per-image channel-weight rule is named by ``rule``."""

    #: "gradcam" or "gradcampp": the per-image rule (also names a transfer method's database).
    rule: ClassVar[WeightRule]

    def weights(self, act: Tensor, grad: Tensor) -> Tensor:
        """The rule's weights: A, g (B, K, h, w) -> (B, K)."""
        return WEIGHT_RULES[self.rule](act, grad)


class TripletCAM(EmbeddingCAM):
    """Grad-CAM / Grad-CAM++ of the triplet loss, averaged over N triplets, top-k channels.

    Args:
        model: embedding :class:`~attrbench.models.common.ImageModel` ((B, 3, H, W) -> (B, D)).
        spec: its spec (``cam_layer`` names the last conv features).
        n_triplets: N, triplets averaged per anchor (the target must hold at least N).
        top_k: channels kept (None keeps all).
        top_k_by: "signed" (largest averaged weights) or "magnitude" (largest |weights|).
        explain: "negative_loss" (Grad-CAM of -L) or "loss" (of +L); the target's margin and
            hinge are used, its own ``sign`` is not.
        layer: CAM layer overriding ``spec.cam_layer``.

    Returns (attribute): (B, 1, h, w) raw maps sum_k w_k A_k at the CAM layer's resolution.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        spec: ModelSpec,
        n_triplets: int = 50,
        top_k: int | None = 50,
        top_k_by: str = "signed",
        explain: str = "negative_loss",
        layer: str | None = None,
    ) -> None:
        super().__init__(model, spec=spec, layer=layer)
        self.n_triplets = check_int("n_triplets", n_triplets)
        self.top_k = check_optional_int("top_k", top_k)
        self.top_k_by = check_choice("top_k_by", top_k_by, TOP_K_RULES)
        self.explain = check_choice("explain", explain, EXPLAIN)

    def channel_weights(self, inputs: Tensor, *, target: Target) -> tuple[Tensor, Tensor]:
        """A (B, K, h, w) and the top-k of the weights averaged over N triplets, (B, K)."""
        triplets = carried_target(target, kind=TripletLoss, method=self.info.name, explains="a triplet loss")
        acts, weights = triplet_channel_weights(self.model, inputs, layer=self._module, target=triplets,
                                                rule=self.rule, n_triplets=self.n_triplets, explain=self.explain)
        return acts, keep_top_k(weights.mean(1), self.top_k, by=self.top_k_by)


class TransferCAM(EmbeddingCAM):
    """CAM with channel weights transferred from the nearest training cluster (no backward).

    Args:
        model: embedding :class:`~attrbench.models.common.ImageModel`.
        spec: its spec.
        database: built by :func:`attrbench.embedding.database.build_database` with
            ``**cls.database_options(top_k_by=..., explain=...)``.
        database_source: instead of ``database``, a function from those options to the database
            (the embedding track passes its cached builder in ``method_kwargs``).
        top_k_by: "signed" or "magnitude", how each cluster's top-k channels are chosen.
        explain: "negative_loss" or "loss", the direction of the training images' gradients.
        layer: CAM layer overriding ``spec.cam_layer``.

    Returns (attribute): (B, 1, h, w) raw maps sum_{k in top(c*)} w_{c*,k} A_k.
    """

    #: "triplet" (ML Grad-CAM) or "similarity" (Faster-Grad-CAM) per-image training weights.
    database_target: ClassVar[str] = "triplet"
    num_clusters: ClassVar[int] = 50
    database_top_k: ClassVar[int | None] = 50
    database_n_triplets: ClassVar[int] = 50

    def __init__(
        self,
        model: nn.Module,
        *,
        spec: ModelSpec,
        database: WeightDatabase | None = None,
        database_source: Callable[[dict[str, Any]], WeightDatabase] | None = None,
        top_k_by: str = "signed",
        explain: str = "negative_loss",
        layer: str | None = None,
    ) -> None:
        super().__init__(model, spec=spec, layer=layer)
        self.top_k_by = check_choice("top_k_by", top_k_by, TOP_K_RULES)
        self.explain = check_choice("explain", explain, EXPLAIN)
        if database is None and database_source is not None:
            database = database_source(self.database_options(top_k_by=self.top_k_by, explain=self.explain))
        # database=None is accepted here because a runner may instantiate methods (for their
        # config) before the track has built the database; attribute() then refuses to run.
        self.database: WeightDatabase | None = None
        if database is not None:
            meta = database.meta
            if (database.rule, meta.get("target"), meta.get("top_k_by", "signed"), meta.get("explain", "negative_loss")) \
                    != (self.rule, self.database_target, self.top_k_by, self.explain):
                raise ValueError(
                    f"{self.info.name} needs a {self.rule!r} database of {self.database_target!r} weights "
                    f"(top_k_by={self.top_k_by!r}, explain={self.explain!r}), got rule {database.rule!r} / target "
                    f"{meta.get('target')!r} / top_k_by {meta.get('top_k_by')!r} / explain {meta.get('explain')!r}"
                )
            device = next(model.parameters()).device
            self.database = database.to(device)
            self._weights = self.database.sparse_weights()
            self.num_clusters_used = database.num_clusters
            self.top_k = int(database.top_indices.shape[1])

    @classmethod
    def database_options(cls, *, top_k_by: str = "signed", explain: str = "negative_loss") -> dict[str, Any]:
        """Keyword arguments of :func:`~attrbench.embedding.database.build_database` for this method
        with these options."""
        return {
            "rule": cls.rule,
            "target": cls.database_target,
            "n_triplets": cls.database_n_triplets,
            "num_clusters": cls.num_clusters,
            "top_k": cls.database_top_k,
            "top_k_by": top_k_by,
            "explain": explain,
        }

    @torch.no_grad()
    def channel_weights(self, inputs: Tensor, *, target: Target) -> tuple[Tensor, Tensor]:
        """A (B, K, h, w) and the weights of each image's nearest training cluster, (B, K)."""
        del target  # transfer: the weights come from the training clusters, not from a gradient
        if self.database is None:
            raise OptionTypeError(
                f"{self.info.name} needs a weight database built on training images: run it through the "
                "embedding track (--track embedding) or pass database=build_database(...)"
            )
        with capture_output(self._module) as outputs:
            embeddings = self.model(inputs)
        if len(outputs) != 1:
            raise RuntimeError(f"CAM layer {self.layer!r} ran {len(outputs)} times in one forward, expected once")
        clusters = self.database.assign(embeddings)
        return outputs[0], self._weights[clusters]
