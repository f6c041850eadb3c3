"""Train an embedding network on half the classes; evaluate Recall@K on the unseen half.

Protocol (metric learning on CUB-200-2011, as Chen et al., WACV 2020 use it): train on the first
half of the classes (both splits), evaluate Recall@1/@5 on the unseen second half (both splits):
Recall@K = fraction of query images whose K nearest other images (Euclidean on the unit
embeddings) include one of the same class. On SynthBirds the training classes can be drawn with
more scenes (``train_per_class``; the generator draws every scene independently); the unseen
classes are always those of the default dataset (60 + 20 scenes per class, 800 images), so
Recall@K stays comparable between recipes.

Losses (:mod:`attrbench.embedding.losses`): FaceNet's semi-hard triplet loss or the
multi-similarity loss, on P classes x K images batches (:func:`pk_batches`), Adam with a one-cycle
learning rate. ``snapshots`` saves weaker checkpoints of the same run after the given epochs
(``<out>-ep<E>.pt``), each with its own Recall@K, so that explanation quality can be plotted
against retrieval quality.

    attrbench train-embedding --out attrbench/checkpoints/embed-synthbirds.pt   (the recipe: docs/embedding.md)
    attrbench train-embedding --dataset cub200 --data-root PATH/CUB_200_2011 --image-size 224 ...
"""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from attrbench.embedding.losses import LOSSES, multi_similarity_loss, pairwise_sq_distances, semihard_triplet_loss

__all__ = ["load_split", "pairwise_sq_distances", "pk_batches", "recall_at_k", "recalibrate_batchnorm",
           "semihard_triplet_loss", "snapshot_path", "train", "train_checkpoint"]


def pk_batches(labels: Tensor, *, p: int, k: int, generator: torch.Generator) -> list[Tensor]:
    """One epoch of P-classes x K-images batches (indices into ``labels``).

    Each class's images are shuffled and cut into chunks of K (a short last chunk is topped up
    by drawing again from the class). Each batch takes one chunk from each of P random classes
    that still have chunks; the epoch ends when fewer than two such classes remain.
    """
    queues: dict[int, list[Tensor]] = {}
    for c in labels.unique().tolist():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(idx.numel(), generator=generator)]
        chunks = []
        for start in range(0, idx.numel(), k):
            chunk = idx[start : start + k]
            if chunk.numel() < k:
                chunk = torch.cat([chunk, idx[torch.randint(idx.numel(), (k - chunk.numel(),), generator=generator)]])
            chunks.append(chunk)
        queues[c] = chunks
    batches = []
    while True:
        open_classes = [c for c, q in queues.items() if q]
        if len(open_classes) < 2:
            return batches
        pick = torch.randperm(len(open_classes), generator=generator)[:p].tolist()
        batches.append(torch.cat([queues[open_classes[i]].pop() for i in pick]))


@torch.no_grad()
def recall_at_k(embeddings: Tensor, labels: Tensor, *, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Recall@K over all queries, the query itself excluded: (P, D), (P,) -> {"recall@K": value}."""
    d = torch.cdist(embeddings, embeddings)
    d.fill_diagonal_(float("inf"))
    nearest = d.topk(max(ks), dim=1, largest=False).indices  # (P, maxK)
    hit = labels[nearest] == labels.view(-1, 1)
    return {f"recall@{k}": float(hit[:, :k].any(1).float().mean()) for k in ks}


def load_split(dataset: str, *, data_root: str | None, classes: str, image_size: int,
               generator: dict[str, int] | None = None) -> tuple[Tensor, Tensor, Any]:
    """All images (P, 3, S, S) and labels (P,) of ``classes`` (both splits), and the dataset.

    ``generator``: SynthBirds generator options (``train_per_class``, ``test_per_class``) of the
    generated copy to read (default: the default dataset); ignored for CUB-200.
    """
    from attrbench.api import collate
    from attrbench.errors import DataError

    if dataset == "synthbirds":
        from attrbench.datasets.synthbirds import SynthBirds

        data: Any = SynthBirds(root=data_root, split="all", classes=classes, image_size=image_size, masks=False,
                               parts=False, **(generator or {}))
    elif dataset == "cub200":
        from attrbench.datasets.cub200 import CUB200

        if data_root is None:
            raise DataError("--dataset cub200 needs --data-root PATH (the CUB_200_2011 folder)")
        data = CUB200(root=data_root, split="all", classes=classes, image_size=image_size, masks=False, parts=False)
    else:
        raise ValueError(f"dataset must be 'synthbirds' or 'cub200', got {dataset!r}")
    batch = collate([data[i] for i in range(len(data))])
    return batch.images, batch.labels, data


def _batch_loss(name: str, embeddings: Tensor, labels: Tensor, *, margin: float) -> tuple[Tensor, dict[str, float]]:
    if name == "semihard":
        return semihard_triplet_loss(embeddings, labels, margin=margin)
    if name == "multisimilarity":
        return multi_similarity_loss(embeddings, labels)
    raise ValueError(f"loss must be one of {LOSSES}, got {name!r}")


def train(
    *,
    images: Tensor,
    labels: Tensor,
    backbone: str,
    width: int,
    layers: tuple[int, ...],
    dim: int,
    margin: float,
    epochs: int,
    p: int,
    k: int,
    lr: float,
    seed: int,
    device: torch.device,
    loss: str = "semihard",
    stem_stride: int = 1,
    snapshots: tuple[int, ...] = (),
    on_snapshot: Callable[[int, Any, list[dict[str, float]]], None] | None = None,
    log: Callable[[str], None] | None = None,
):  # noqa: ANN201  (tuple[ImageModel, list[dict]])
    """Train an :class:`EmbeddingNet` (wrapped in an ImageModel); returns (model, history).

    Long: one training loop (model, optimiser, schedule, epochs with augmentation, logging and
    snapshot hook) that reads best as a whole.

    After each epoch in ``snapshots`` (< epochs), ``on_snapshot(epoch, model, history so far)``
    gets the model in train mode; it must not change it (copy first). The time it takes is not counted in history's
    ``seconds`` (cumulative training time).
    """
    from attrbench.api import ModelSpec
    from attrbench.models.common import ImageModel
    from attrbench.models.embedding import EmbeddingNet

    torch.manual_seed(seed)
    net = EmbeddingNet(backbone=backbone, width=width, layers=layers, dim=dim, stem_stride=stem_stride)
    spec = ModelSpec(name="embedding", kind="embedding", input_size=tuple(images.shape[-2:]), num_outputs=dim,
                     cam_layer="net." + net.cam_layer)  # type: ignore[arg-type]
    model = ImageModel(net, spec=spec).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = len(pk_batches(labels, p=p, k=k, generator=torch.Generator().manual_seed(seed)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, epochs * steps_per_epoch))
    history: list[dict[str, float]] = []
    seconds = 0.0
    for epoch in range(epochs):
        start = time.perf_counter()
        model.train()
        total, n, active = 0.0, 0, 0.0
        for idx in pk_batches(labels, p=p, k=k, generator=gen):
            x = images[idx].to(device)
            flip = torch.rand(len(idx), generator=gen) < 0.5  # SynthBirds and CUB are mirror-invariant
            x = torch.where(flip.view(-1, 1, 1, 1).to(device), x.flip(-1), x)
            value, stats = _batch_loss(loss, model(x), labels[idx].to(device), margin=margin)
            opt.zero_grad()
            value.backward()
            opt.step()
            if sched.last_epoch + 1 < sched.total_steps:
                sched.step()
            total += float(value.detach()) * len(idx)
            n += len(idx)
            active += stats["active"] * len(idx)
        seconds += time.perf_counter() - start
        history.append({"epoch": epoch + 1, "loss": total / n, "active": active / n, "seconds": round(seconds, 1)})
        if log:
            log(f"epoch {epoch + 1}/{epochs}: loss {total / n:.4f}, active {active / n:.2f} ({seconds:.0f} s)")
        if on_snapshot is not None and epoch + 1 in snapshots and epoch + 1 < epochs:
            on_snapshot(epoch + 1, model, list(history))
    recalibrate_batchnorm(model, images, device=device)
    return model.eval(), history


@torch.no_grad()
def recalibrate_batchnorm(model: torch.nn.Module, images: Tensor, *, device: torch.device,
                          batch_size: int = 64) -> None:
    """Replace BatchNorm running statistics by exact averages over ``images`` (train-mode passes).

    Why: BagNet's stem BN has momentum 0.001 (official value), so after a short CPU training its
    running statistics are still near their initial values and eval-mode outputs would differ
    from what was trained. Cumulative averaging (momentum None) over one pass fixes that.
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for start in range(0, len(images), batch_size):
        model(images[start : start + batch_size].to(device))
    for m, momentum in zip(bns, saved):
        m.momentum = momentum
    model.eval()


@torch.no_grad()
def embed_images(model, images: Tensor, *, device: torch.device, batch_size: int = 128) -> Tensor:  # noqa: ANN001
    return torch.cat([model(images[i : i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)])


def snapshot_path(out: str | Path, epoch: int) -> Path:
    """Where the snapshot after ``epoch`` of a run writing ``out`` goes: ``<stem>-ep<epoch><suffix>``."""
    out = Path(out)
    return out.with_name(f"{out.stem}-ep{epoch}{out.suffix or '.pt'}")


def _evaluate(model, *, train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor,  # noqa: ANN001
              device: torch.device) -> dict[str, float]:
    metrics = {f"test_{k}": v for k, v in recall_at_k(embed_images(model, test_x, device=device), test_y).items()}
    metrics.update({f"train_{k}": v for k, v in recall_at_k(embed_images(model, train_x, device=device),
                                                            train_y).items()})
    return metrics


def train_checkpoint(
    *,
    dataset: str,
    data_root: str | None,
    image_size: int,
    backbone: str,
    width: int,
    layers: tuple[int, ...],
    dim: int,
    margin: float,
    epochs: int,
    classes_per_batch: int,
    images_per_class: int,
    lr: float,
    seed: int,
    device: torch.device,
    name: str,
    out: str | Path,
    metrics_out: str | Path | None,
    command: str,
    loss: str = "semihard",
    stem_stride: int = 1,
    train_per_class: int | None = None,
    test_per_class: int | None = None,
    snapshots: tuple[int, ...] = (),
) -> Path:
    """Train on the first half of the classes, measure Recall@K on both halves, save a checkpoint.

    Long: over 60 lines because it is the whole protocol in order (load, train with snapshots,
    evaluate, record the meta, save); splitting it would only pass the same dozen values around.

    Args:
        dataset: "synthbirds" or "cub200"; data_root: its folder (None: SynthBirds' cache).
        image_size, backbone, width, layers, dim, stem_stride: the network (:class:`EmbeddingNet`).
        margin, epochs, classes_per_batch (P), images_per_class (K), lr, seed, loss: the recipe.
        train_per_class, test_per_class: SynthBirds scenes per training class (generator options
            of the copy the training classes are read from; None: the default dataset's).
        snapshots: epochs after which a weaker checkpoint is saved (:func:`snapshot_path`).
        device: where to train.
        name: model name stored in the checkpoint's spec (snapshots: ``<name>-ep<E>``).
        out: checkpoint path; metrics_out: optional JSON with Recall@K and the meta.
        command: the command line stored in the meta.

    Returns:
        The checkpoint path.
    """
    from attrbench.models.zoo import save_checkpoint

    start = time.perf_counter()
    generator = {key: v for key, v in (("train_per_class", train_per_class), ("test_per_class", test_per_class))
                 if v is not None}
    train_x, train_y, train_data = load_split(dataset, data_root=data_root, classes="first_half",
                                              image_size=image_size, generator=generator if data_root is None else None)
    test_x, test_y, test_data = load_split(dataset, data_root=data_root, classes="second_half", image_size=image_size)
    load_seconds = time.perf_counter() - start
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    log(f"train: {len(train_y)} images of {train_y.unique().numel()} classes; "
        f"test: {len(test_y)} images of {test_y.unique().numel()} unseen classes ({load_seconds:.0f} s to load)")
    layers = tuple(layers)
    arch_kwargs = {"backbone": backbone, "width": width, "layers": list(layers), "dim": dim}
    if stem_stride != 1:
        arch_kwargs["stem_stride"] = stem_stride
    base_meta = {
        "command": command, "dataset": dataset, "data_root": str(getattr(train_data, "root", "")),
        "test_data_root": str(getattr(test_data, "root", "")), "train_classes": "first_half",
        "test_classes": "second_half", "image_size": image_size, "loss": loss, "margin": margin, "seed": seed,
        "threads": torch.get_num_threads(), "torch": str(torch.__version__),
    }  # fmt: skip
    evaluate = lambda m: _evaluate(m, train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y,  # noqa: E731
                                   device=device)

    def save(model, path: Path, *, model_name: str, metrics: dict[str, float], extra: dict[str, Any]) -> dict:  # noqa: ANN001
        model.spec = dataclasses.replace(model.spec, name=model_name)
        meta = {**base_meta, "metrics": metrics, **extra}
        saved = save_checkpoint(path, model=model, arch="embedding", arch_kwargs=arch_kwargs, meta=meta)
        log("  ".join(f"{k} {v:.3f}" for k, v in metrics.items()) + f"  -> {saved} ({saved.stat().st_size / 1e6:.2f} MB)")
        return meta

    snapshot_files: list[str] = []

    def on_snapshot(epoch: int, live, history: list[dict[str, float]]) -> None:  # noqa: ANN001
        snap = copy.deepcopy(live)
        recalibrate_batchnorm(snap, train_x, device=device)
        path = snapshot_path(out, epoch)
        save(snap, path, model_name=f"{name}-ep{epoch}", metrics=evaluate(snap),
             extra={"epoch": epoch, "epochs_of_run": epochs, "snapshot_of": str(out),
                    "train_seconds": history[-1]["seconds"], "history": history})
        snapshot_files.append(str(path))

    model, history = train(
        images=train_x, labels=train_y, backbone=backbone, width=width, layers=layers, dim=dim,
        margin=margin, epochs=epochs, p=classes_per_batch, k=images_per_class, lr=lr, seed=seed,
        device=device, loss=loss, stem_stride=stem_stride, snapshots=tuple(snapshots), on_snapshot=on_snapshot,
        log=log,
    )  # fmt: skip
    train_seconds = history[-1]["seconds"] if history else 0.0
    meta = save(model, Path(out), model_name=name, metrics=evaluate(model),
                extra={"epoch": epochs, "train_seconds": train_seconds,
                       "wall_seconds": round(time.perf_counter() - start, 1), "history": history,
                       "snapshots": snapshot_files})  # fmt: skip
    if metrics_out:
        target = Path(metrics_out)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"checkpoint": str(out), **meta}, indent=2) + "\n", encoding="utf-8")
    return Path(out)


if __name__ == "__main__":  # python -m attrbench.embedding.train is attrbench train-embedding
    from attrbench.cli import forward

    sys.exit(forward("train-embedding"))
