"""Weight-transfer database (Chen et al., WACV 2020, arXiv 2001.06538; Faster-Grad-CAM).

Offline, on the *training* images: per-image channel weights (ML Grad-CAM: averaged over N
reference triplets; Faster-Grad-CAM: one gradient of the similarity to the class mean), then
k-means over the training embeddings (K = 50, Faster-Grad-CAM: 10). Each cluster stores its
centroid, the mean channel weight vector of its members and the indices of its top-k channels
(by signed mean weight, or by magnitude: ``top_k_by``).

Online, for a test image: one forward pass (no backward) gives the embedding e and the CAM-layer
activations A; the nearest centroid c* = argmin_c ||e - mu_c|| selects the weights and the map
is sum_{k in top(c*)} w_{c*,k} A_k.

File format (``torch.save`` of plain tensors and JSON-able values, readable with
``weights_only=True``): {"format": "attrbench-weight-db/1", "centroids", "weights", "top_indices",
"assignments", "meta"}. :meth:`WeightDatabase.save`/:meth:`WeightDatabase.load` round-trip exactly.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from attrbench.api import Sample, collate
from attrbench.embedding.cam import target_channel_weights, top_k_indices, triplet_channel_weights
from attrbench.embedding.targets import CosineSimilarity, TripletLoss, sample_triplets
from attrbench.errors import DataError
from attrbench.fileio import honour_umask
from attrbench.hooks import capture_output

__all__ = ["DB_FORMAT", "WeightDatabase", "build_database", "class_mean_references", "embed_dataset", "kmeans",
           "layer_features"]

DB_FORMAT = "attrbench-weight-db/1"


def kmeans(points: Tensor, *, k: int, seed: int, iterations: int = 100) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means with k-means++ seeding (Arthur & Vassilvitskii, 2007), deterministic.

    An emptied cluster is re-seeded at the point farthest from its centroid, so all k clusters
    stay populated.

    Args:
        points: (P, D) float.
        k: clusters, 1 <= k <= P.
        seed: seeds the k-means++ draws.
        iterations: maximum Lloyd steps (stops early when assignments no longer change).

    Returns:
        centroids (k, D) and assignments (P,) int64.
    """
    n = points.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k-means needs 1 <= k <= number of points, got k={k} for {n} points")
    x = points.detach().double().cpu()
    gen = torch.Generator().manual_seed(seed)
    first = int(torch.randint(n, (1,), generator=gen))
    centroids = [x[first]]
    d2 = (x - x[first]).pow(2).sum(1)
    for _ in range(1, k):
        probs = d2 / d2.sum() if d2.sum() > 0 else torch.full_like(d2, 1.0 / n)
        pick = int(torch.multinomial(probs, 1, generator=gen))
        centroids.append(x[pick])
        d2 = torch.minimum(d2, (x - x[pick]).pow(2).sum(1))
    c = torch.stack(centroids)
    assign = torch.cdist(x, c).argmin(1)
    for _ in range(iterations):
        for j in range(k):
            members = assign == j
            if members.any():
                c[j] = x[members].mean(0)
        dist = torch.cdist(x, c)
        new = dist.argmin(1)
        counts = torch.bincount(new, minlength=k)
        for j in torch.nonzero(counts == 0).flatten().tolist():
            far = int(dist.gather(1, new.view(-1, 1)).squeeze(1).argmax())
            c[j] = x[far]
            new[far] = j
        if torch.equal(new, assign):
            break
        assign = new
    for j in range(k):  # centroids consistent with the final assignment
        c[j] = x[assign == j].mean(0)
    return c.to(points.dtype), assign


@dataclass
class WeightDatabase:
    """Cluster centroids with their transferred channel weights.

    Attributes:
        centroids: (K, D) cluster centres in embedding space.
        weights: (K, C) mean channel weights of each cluster's training images.
        top_indices: (K, k) indices of the k largest weights per cluster (k = C keeps all).
        assignments: (P,) cluster of every training image (for inspection and tests).
        meta: how it was built (rule, target, N, K, k, seed, model, build_seconds, ...).
    """

    centroids: Tensor
    weights: Tensor
    top_indices: Tensor
    assignments: Tensor
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = self.centroids.shape[0]
        if self.weights.shape[0] != k or self.top_indices.shape[0] != k:
            raise ValueError(
                f"centroids ({k}), weights ({self.weights.shape[0]}) and top_indices "
                f"({self.top_indices.shape[0]}) must have one row per cluster"
            )

    @property
    def num_clusters(self) -> int:
        return self.centroids.shape[0]

    @property
    def rule(self) -> str:
        return str(self.meta.get("rule", ""))

    def assign(self, embeddings: Tensor) -> Tensor:
        """Nearest centroid: (B, D) -> (B,) int64."""
        return torch.cdist(embeddings.to(self.centroids), self.centroids).argmin(1)

    def sparse_weights(self) -> Tensor:
        """(K, C) cluster weights with everything outside each cluster's top-k set to 0."""
        mask = torch.zeros_like(self.weights, dtype=torch.bool).scatter(1, self.top_indices, True)
        return torch.where(mask, self.weights, torch.zeros_like(self.weights))

    def channel_weights(self, embeddings: Tensor) -> Tensor:
        """Transferred weights for new embeddings: (B, D) -> (B, C) (top-k only)."""
        return self.sparse_weights()[self.assign(embeddings)]

    def to(self, device: torch.device) -> WeightDatabase:
        return WeightDatabase(self.centroids.to(device), self.weights.to(device), self.top_indices.to(device),
                              self.assignments.to(device), dict(self.meta))

    def save(self, path: str | Path) -> Path:
        """Write atomically (see the module docstring for the format)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": DB_FORMAT,
            "centroids": self.centroids.detach().cpu(),
            "weights": self.weights.detach().cpu(),
            "top_indices": self.top_indices.detach().cpu(),
            "assignments": self.assignments.detach().cpu(),
            "meta": self.meta,
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        try:
            torch.save(payload, tmp)
            honour_umask(tmp)  # mkstemp creates 0600
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    @classmethod
    def load(cls, path: str | Path) -> WeightDatabase:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: weight database file not found")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated or foreign file
            raise DataError(f"{path}: cannot read weight database: {type(exc).__name__}: {exc}") from exc
        if not isinstance(payload, dict) or payload.get("format") != DB_FORMAT:
            raise DataError(f"{path}: not an attrbench weight database (expected format {DB_FORMAT!r})")
        missing = [k for k in ("centroids", "weights", "top_indices", "assignments", "meta") if k not in payload]
        if missing:
            raise DataError(f"{path}: weight database lacks {missing}")
        return cls(payload["centroids"], payload["weights"], payload["top_indices"], payload["assignments"],
                   payload["meta"])

    @classmethod
    def from_image_weights(
        cls,
        *,
        embeddings: Tensor,
        image_weights: Tensor,
        num_clusters: int,
        top_k: int | None,
        seed: int,
        meta: dict[str, Any] | None = None,
        top_k_by: str = "signed",
    ) -> WeightDatabase:
        """Cluster training embeddings (P, D) and average their per-image weights (P, C).

        Each cluster keeps its ``top_k`` channels by signed mean weight or by its magnitude
        (``top_k_by``, :data:`attrbench.embedding.cam.TOP_K_RULES`).
        """
        if embeddings.shape[0] != image_weights.shape[0]:
            raise ValueError(f"{embeddings.shape[0]} embeddings but {image_weights.shape[0]} weight rows")
        centroids, assign = kmeans(embeddings, k=num_clusters, seed=seed)
        sums = torch.zeros(num_clusters, image_weights.shape[1], dtype=image_weights.dtype)
        sums.index_add_(0, assign, image_weights.cpu())
        counts = torch.bincount(assign, minlength=num_clusters).to(image_weights.dtype)
        weights = sums / counts.view(-1, 1)
        k = weights.shape[1] if top_k is None else min(top_k, weights.shape[1])
        top = top_k_indices(weights, k, by=top_k_by)
        return cls(centroids, weights, top, assign, dict(meta or {}))


def _batches(dataset: Sequence[Sample], batch_size: int):
    for start in range(0, len(dataset), batch_size):
        yield collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])


@torch.no_grad()
def embed_dataset(model: nn.Module, dataset: Sequence[Sample], *, device: torch.device,
                  batch_size: int = 64) -> tuple[Tensor, Tensor]:
    """Embeddings (P, D) and labels (P,) of every sample, on the CPU."""
    if len(dataset) == 0:
        raise DataError("cannot embed an empty dataset")
    embs, labels = [], []
    for batch in _batches(dataset, batch_size):
        embs.append(model(batch.images.to(device)).cpu())
        labels.append(batch.labels)
    return torch.cat(embs), torch.cat(labels)


@torch.no_grad()
def layer_features(model: nn.Module, dataset: Sequence[Sample], *, layer: nn.Module, device: torch.device,
                   batch_size: int = 64) -> tuple[Tensor, Tensor, Tensor]:
    """CAM-layer activations (P, C, h, w), outputs (P, D) and labels (P,) of every sample, on the CPU."""
    if len(dataset) == 0:
        raise DataError("cannot embed an empty dataset")
    acts, embs, labels = [], [], []
    for batch in _batches(dataset, batch_size):
        with capture_output(layer) as out:
            embs.append(model(batch.images.to(device)).cpu())
        acts.append(out[0].cpu())
        labels.append(batch.labels)
    return torch.cat(acts), torch.cat(embs), torch.cat(labels)


class _Head(nn.Module):
    """``head`` as a module with an identity entry layer (the CAM layer of the head-only model)."""

    def __init__(self, head: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.entry = nn.Identity()
        self.head = head

    def forward(self, acts: Tensor) -> Tensor:
        return self.head(self.entry(acts))


def class_mean_references(embeddings: Tensor, labels: Tensor) -> Tensor:
    """For each item, the mean embedding of the *other* items of its class: (P, D) -> (P, D).

    An item alone in its class gets its own embedding (similarity 1: no information, no error).
    """
    classes, inverse = labels.unique(return_inverse=True)
    sums = torch.zeros(classes.numel(), embeddings.shape[1], dtype=embeddings.dtype).index_add_(0, inverse, embeddings)
    counts = torch.bincount(inverse, minlength=classes.numel()).to(embeddings.dtype).view(-1, 1)
    others = counts[inverse] - 1
    ref = (sums[inverse] - embeddings) / others.clamp(min=1)
    return torch.where(others > 0, ref, embeddings)


def build_database(
    model: nn.Module,
    dataset: Sequence[Sample],
    *,
    layer: nn.Module,
    device: torch.device,
    rule: str = "gradcam",
    target: str = "triplet",
    n_triplets: int = 50,
    num_clusters: int = 50,
    top_k: int | None = 50,
    top_k_by: str = "signed",
    explain: str = "negative_loss",
    margin: float = 0.2,
    hinge: bool = False,
    seed: int = 0,
    batch_size: int = 16,
    meta: dict[str, Any] | None = None,
    head: Callable[[Tensor], Tensor] | None = None,
    features: tuple[Tensor, Tensor, Tensor] | None = None,
) -> WeightDatabase:
    """Build the weight-transfer database from training samples.

    Long: the build is one recipe (features, clusters, per-cluster weights, timing) kept in order so
    that it reads against the paper.

    Args:
        model: embedding model (eval mode) on ``device``.
        dataset: training samples (their classes define the triplets).
        layer: the CAM layer module of ``model``.
        rule: "gradcam" or "gradcampp" channel weights.
        target: "triplet" (ML Grad-CAM: weights averaged over ``n_triplets`` triplets drawn from
            the training set, anchor = the image) or "similarity" (Faster-Grad-CAM: one gradient
            of cos(f(x), mean embedding of the other images of its class)).
        n_triplets, margin, hinge: the triplet-loss target (see :mod:`.targets`).
        explain: "negative_loss" or "loss", the direction differentiated
            (:data:`attrbench.embedding.cam.EXPLAIN`; for "similarity", the similarity or its negative).
        num_clusters: K of k-means; capped at the number of training images (the request is kept
            in ``meta["num_clusters_requested"]``).
        top_k: channels kept per cluster (None keeps all); top_k_by: "signed" or "magnitude".
        seed: seeds triplet sampling and k-means.
        head: optional function from CAM-layer activations to the model's output (e.g.
            ``EmbeddingNet.embed`` behind an ImageModel); with it the backbone runs once per
            training image (no grad) and the gradients only through the head, instead of a
            backbone forward per image and per database.
        features: precomputed :func:`layer_features` of ``dataset`` (needs ``head``), shared
            between databases built on the same training set.

    Returns:
        The database; ``meta["build_seconds"]`` is the wall time of the whole build.
    """
    if target not in ("triplet", "similarity"):
        raise ValueError(f"target must be 'triplet' or 'similarity', got {target!r}")
    start = time.perf_counter()
    if head is not None:
        if features is None:
            features = layer_features(model, dataset, layer=layer, device=device, batch_size=max(batch_size, 64))
        acts_all, embeddings, labels = features
        runner: nn.Module = _Head(head)
        run_layer: nn.Module = runner.entry  # type: ignore[assignment]
    else:
        embeddings, labels = embed_dataset(model, dataset, device=device, batch_size=max(batch_size, 64))
        runner, run_layer = model, layer
    gen = torch.Generator().manual_seed(seed)
    dtype = embeddings.dtype
    if target == "triplet":
        pos, neg = sample_triplets(labels, anchors=torch.arange(len(labels)), anchor_labels=labels, n=n_triplets,
                                   generator=gen)
    else:
        refs = class_mean_references(embeddings, labels)
    rows = []
    if head is not None:
        chunks = ((start_, acts_all[start_ : start_ + batch_size]) for start_ in range(0, len(labels), batch_size))
    else:
        chunks = ((start_, b.images) for start_, b in zip(range(0, len(dataset), batch_size), _batches(dataset, batch_size)))
    for bstart, inputs in chunks:
        idx = torch.arange(bstart, bstart + len(inputs))
        inputs = inputs.to(device=device, dtype=dtype)
        if target == "triplet":
            trip = TripletLoss(embeddings[pos[idx]].to(device), embeddings[neg[idx]].to(device), margin=margin,
                               hinge=hinge)
            _, w = triplet_channel_weights(runner, inputs, layer=run_layer, target=trip, rule=rule,  # type: ignore[arg-type]
                                           explain=explain)
            rows.append(w.mean(1).cpu())
        else:
            sim = CosineSimilarity(refs[idx].to(device))
            _, w = target_channel_weights(runner, inputs, layer=run_layer, target=sim, rule=rule,  # type: ignore[arg-type]
                                          explain=explain)
            rows.append(w.cpu())
    image_weights = torch.cat(rows)
    k_used = min(num_clusters, len(dataset))
    info = {
        "rule": rule,
        "target": target,
        "n_triplets": n_triplets if target == "triplet" else 1,
        "num_clusters": k_used,
        "num_clusters_requested": num_clusters,
        "top_k": top_k,
        "top_k_by": top_k_by,
        "explain": explain,
        "margin": margin,
        "hinge": hinge,
        "seed": seed,
        "num_images": len(dataset),
    }
    info.update(meta or {})
    db = WeightDatabase.from_image_weights(embeddings=embeddings, image_weights=image_weights,
                                           num_clusters=k_used, top_k=top_k, seed=seed, meta=info,
                                           top_k_by=top_k_by)
    db.meta["build_seconds"] = time.perf_counter() - start
    return db
