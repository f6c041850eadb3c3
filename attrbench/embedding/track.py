"""The embedding track: explain an embedding network on classes it never saw in training.

Protocol (Chen et al., WACV 2020, arXiv 2001.06538, on CUB-200-2011; here SynthBirds by default):
the model is trained on the first half of the classes, evaluated on the second half.

Target per sample (for every method and for the deletion metric):
    cos(f(x), r), r = mean embedding of the *other* images of x's class in the reference pool
    (:class:`~attrbench.embedding.targets.CosineSimilarity`).
The reference pool is the whole evaluated dataset (all its images, not only the first
``n_samples``), embedded once in :meth:`EmbeddingTrack.prepare`.

Class proxies for EmbeddingCAM (carried by the target as ``CosineSimilarity.proxy``): the
normalised mean embedding of each class of the pool (:func:`~attrbench.embedding.targets.class_proxies`).

Triplets for ML Grad-CAM (carried by the target, see ``CosineSimilarity.triplets``): for each
pool image, N = 50 (positive, negative) pairs drawn once with the run's seed from the pool:
positive = another image of its class, negative = an image of another class; the signed triplet
loss uses the training margin, sign "descent" and no hinge (:mod:`.targets`).

Weight-transfer methods (:class:`~attrbench.embedding.cam_methods.TransferCAM`) get a database
built on the *training* classes (``classes="first_half"``, both splits) of the same dataset, in
:meth:`EmbeddingTrack.method_kwargs` (methods that declare ``MethodInfo.needs_weight_database``); databases are cached in
``$ATTRBENCH_CACHE/embedding-db/<key>.pt`` keyed by the model weights, the training data and the
build options, and their build time is kept in :attr:`EmbeddingTrack.database_info` (``build_seconds`` of a
database excludes the one backbone pass over the training images that all databases of a track
share, recorded as ``database_info["shared_features"]``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, ClassVar

import torch

from attrbench.api import AttributionMethod, Batch, Target
from attrbench.embedding.database import (
    WeightDatabase,
    build_database,
    class_mean_references,
    embed_dataset,
    layer_features,
)
from attrbench.embedding.targets import ClassProxy, CosineSimilarity, TripletLoss, class_proxies, sample_triplets
from attrbench.errors import DataError
from attrbench.models.common import ImageModel
from attrbench.tracks import Track, check_method_track

__all__ = ["EmbeddingTrack", "training_dataset_for"]


def _base_dataset(dataset: Any) -> Any:
    """Unwrap ``torch.utils.data.Subset`` layers."""
    while hasattr(dataset, "dataset") and hasattr(dataset, "indices"):
        dataset = dataset.dataset
    return dataset


def training_dataset_for(dataset: Any) -> Any:
    """The training classes of a CUB-format dataset whose ``classes`` is "second_half".

    Raises:
        DataError: the dataset does not expose ``root``/``classes``/``image_size`` (a CUB200 or
            SynthBirds), or is not restricted to the second half of its classes.
    """
    base = _base_dataset(dataset)
    for attr in ("root", "classes", "image_size"):
        if not hasattr(base, attr):
            raise DataError(
                f"the embedding track's weight transfer needs a CUB-format dataset (CUB200, SynthBirds) to find "
                f"its training classes; {type(base).__name__} has no {attr!r}"
            )
    if base.classes != "second_half":
        raise DataError(
            f"{base.root}: the embedding track evaluates unseen classes (classes='second_half'), got "
            f"classes={base.classes!r}; training classes would be explained with weights from themselves"
        )
    kwargs: dict[str, Any] = dict(root=base.root, split="all", classes="first_half", image_size=base.image_size,
                                  masks=False, parts=False)
    if hasattr(base, "resize"):  # the same geometry as the evaluated images
        kwargs["resize"] = base.resize
    return type(base)(**kwargs)


def _model_digest(model: ImageModel) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class EmbeddingTrack(Track):
    """Similarity target on unseen classes, triplets and weight-transfer databases (module docstring)."""

    name = "embedding"
    default_model = "embed-synthbirds"
    default_dataset = "synthbirds"
    default_metrics = ("localisation", "deletion", "runtime")
    #: dataset options of the protocol (unseen classes), passed to the dataset by RunContext.
    dataset_kwargs: ClassVar[dict[str, Any]] = {"classes": "second_half"}
    n_triplets: ClassVar[int] = 50
    sign: ClassVar[str] = "descent"
    hinge: ClassVar[bool] = False
    default_margin: ClassVar[float] = 0.2

    def __init__(self, *, cache_dir: str | Path | None = None, train_dataset: Any = None) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.train_dataset = train_dataset
        self.database_info: dict[str, dict[str, Any]] = {}
        self._databases: dict[str, WeightDatabase] = {}
        self._ready = False
        self._train_features: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    # ------------------------------------------------------------------ prepare
    def prepare(self, *, model: ImageModel, dataset: Any, device: torch.device, seed: int) -> None:
        if model.spec.kind != "embedding":
            raise DataError(f"the embedding track needs an embedding model; {model.spec.name!r} is a {model.spec.kind}")
        pool = _base_dataset(dataset)
        self.model, self.dataset, self.device, self.seed = model, pool, device, seed
        meta = model.checkpoint_meta
        self.margin = float(meta.get("margin", self.default_margin))
        dtype = next(model.parameters()).dtype
        ids: list[str] = []
        embeddings, labels = embed_dataset(model, _Cast(pool, dtype, ids=ids), device=device)
        self.embeddings, self.labels = embeddings, labels
        self.index = {sample_id: i for i, sample_id in enumerate(ids)}
        if len(self.index) != len(ids):
            raise DataError(f"dataset {getattr(pool, 'root', type(pool).__name__)} has duplicate sample ids")
        self.references = class_mean_references(embeddings, labels)
        classes, proxies = class_proxies(embeddings, labels)
        self.proxies = proxies[torch.searchsorted(classes, labels)]  # (P, D): each pool item's class proxy
        gen = torch.Generator().manual_seed(seed)
        self.pos, self.neg = sample_triplets(labels, anchors=torch.arange(len(labels)), anchor_labels=labels,
                                             n=self.n_triplets, generator=gen)
        self._ready = True

    def _rows(self, batch: Batch) -> torch.Tensor:
        try:
            return torch.tensor([self.index[i] for i in batch.ids])
        except KeyError as exc:
            raise DataError(f"sample {exc.args[0]!r} is not in the dataset the track was prepared on") from None

    def make_target(self, *, model: ImageModel, batch: Batch) -> Target:
        if not self._ready:
            raise RuntimeError("EmbeddingTrack.prepare must run before make_target")
        rows = self._rows(batch)
        dev, dtype = batch.images.device, batch.images.dtype
        triplets = TripletLoss(
            self.embeddings[self.pos[rows]].to(dev, dtype), self.embeddings[self.neg[rows]].to(dev, dtype),
            margin=self.margin, sign=self.sign, hinge=self.hinge,  # type: ignore[arg-type]
        )  # fmt: skip
        proxy = ClassProxy(self.proxies[rows].to(dev, dtype))
        return CosineSimilarity(self.references[rows].to(dev, dtype), triplets=triplets, proxy=proxy)

    # ------------------------------------------------------------------ databases
    def method_kwargs(self, method_cls: type[AttributionMethod]) -> dict[str, Any]:
        """``database_source=`` (:meth:`database`) for methods declaring ``MethodInfo.needs_weight_database``.

        The method calls it with its own options (top-k rule, sign), so every option set gets
        its own cached database. Valid after :meth:`prepare`.
        """
        check_method_track(method_cls, self.name)
        if not method_cls.info.needs_weight_database:
            return {}
        if not self._ready:
            raise RuntimeError("EmbeddingTrack.prepare must run before method_kwargs")
        return {"database_source": self.database}

    def database(self, options: dict[str, Any]) -> WeightDatabase:
        """The database for ``options`` (build_database keywords), from memory, cache or built now."""
        options = {**options, "margin": self.margin, "hinge": self.hinge, "seed": self.seed}
        train = self.train_dataset if self.train_dataset is not None else training_dataset_for(self.dataset)
        key_src = {"model": _model_digest(self.model), "data": str(getattr(train, "root", type(train).__name__)),
                   "image_size": str(getattr(train, "image_size", "")), "n": len(train), **options}
        key = hashlib.sha256(json.dumps(key_src, sort_keys=True, default=str).encode()).hexdigest()[:20]
        if key in self._databases:
            return self._databases[key]
        path = self._cache_root() / f"{key}.pt"
        if path.is_file():
            db = WeightDatabase.load(path)
            cached = True
        else:
            layer = self.model.get_submodule(self.model.spec.cam_layer)  # type: ignore[arg-type]
            dtype = next(self.model.parameters()).dtype
            data = _Cast(train, dtype)
            head = self._head()
            if head is not None and self._train_features is None:
                start = time.perf_counter()
                self._train_features = layer_features(self.model, data, layer=layer, device=self.device)
                self.database_info["shared_features"] = {"seconds": time.perf_counter() - start, "num_images": len(data)}
            db = build_database(self.model, data, layer=layer, device=self.device, head=head,
                                features=self._train_features if head is not None else None,
                                meta={"model": self.model.spec.name, "key": key}, **options)
            db.save(path)
            cached = False
        self._databases[key] = db
        label = f"{options['rule']}/{options['target']}/K{options['num_clusters']}"
        if (options.get("top_k_by", "signed"), options.get("explain", "negative_loss")) != ("signed", "negative_loss"):
            label += f"/{options.get('top_k_by')}/{options.get('explain')}"
        self.database_info[label] = {
            "path": str(path), "cached": cached, "build_seconds": db.meta.get("build_seconds"),
            "num_images": db.meta.get("num_images"),
        }  # fmt: skip
        return db

    def _head(self):  # noqa: ANN202  (Callable[[Tensor], Tensor] | None)
        """The function from CAM-layer activations to the output, when the model declares it.

        An :class:`~attrbench.models.embedding.EmbeddingNet` whose CAM layer is the spec's has
        ``embed``; then databases run the backbone once per training image (shared by all
        databases of the run) and differentiate only the head.
        """
        from attrbench.models.embedding import EmbeddingNet

        net = self.model.net
        if isinstance(net, EmbeddingNet) and self.model.spec.cam_layer == "net." + net.cam_layer:
            return net.embed
        return None

    def _cache_root(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir
        env = os.environ.get("ATTRBENCH_CACHE")
        return (Path(env) if env else Path.home() / ".cache" / "attrbench") / "embedding-db"


class _Cast:
    """A dataset view whose images have the model's dtype (float64 test models)."""

    def __init__(self, dataset: Any, dtype: torch.dtype, *, ids: list[str] | None = None) -> None:
        self.dataset, self.dtype, self.ids = dataset, dtype, ids

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):  # noqa: ANN204
        import dataclasses

        sample = self.dataset[i]
        if self.ids is not None:  # records ids in reading order (one pass over the data)
            self.ids.append(sample.id)
        return dataclasses.replace(sample, image=sample.image.to(self.dtype))
