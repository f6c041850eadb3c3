"""Train an embedding network with a triplet loss and semi-hard mining; evaluate Recall@K.

Protocol (metric learning on CUB-200-2011, as Chen et al., WACV 2020 use it): train on the first
half of the classes (both splits), evaluate Recall@1/@5 on the unseen second half (both splits):
Recall@K = fraction of query images whose K nearest other images (Euclidean on the unit
embeddings) include one of the same class.

Loss (Schroff, Kalenichenko, Philbin, FaceNet, CVPR 2015, arXiv 1503.03832), per batch of P
classes x K images: for every anchor-positive pair (a, p) the negative is *semi-hard*: the closest
negative farther than the positive, d(a, n) > d(a, p); when no negative is farther, the farthest
negative (so that a collapsed batch still gets a gentle, not a hardest-negative, signal).
L = mean over (a, p) of [d(a, p) - d(a, n) + m]_+ with squared Euclidean d.

    attrbench train-embedding --dataset synthbirds --out attrbench/checkpoints/embed-synthbirds.pt
    (defaults = the shipped model: BagNet-17 backbone, width 8, 80 px, 10 epochs of 5 x 4 batches)
    attrbench train-embedding --dataset cub200 --data-root PATH/CUB_200_2011 --image-size 224 ...
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = ["load_split", "pk_batches", "recall_at_k", "recalibrate_batchnorm", "semihard_triplet_loss",
           "train", "train_checkpoint"]


def pairwise_sq_distances(embeddings: Tensor) -> Tensor:
    """Squared Euclidean distances: (B, D) -> (B, B), exact zeros on the diagonal."""
    d = torch.cdist(embeddings, embeddings).pow(2)
    return d.fill_diagonal_(0)


def semihard_triplet_loss(embeddings: Tensor, labels: Tensor, *, margin: float) -> tuple[Tensor, dict[str, float]]:
    """FaceNet triplet loss with semi-hard negatives (module docstring).

    Args:
        embeddings: (B, D).
        labels: (B,).
        margin: m.

    Returns:
        The scalar loss and stats {"active": fraction of pairs with positive loss,
        "semihard": fraction of pairs that found a semi-hard negative}.
    """
    d = pairwise_sq_distances(embeddings)
    same = labels.view(-1, 1) == labels.view(1, -1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    pos_pairs = same & ~eye
    if not pos_pairs.any() or same.all():
        raise ValueError("a triplet batch needs at least two classes and two images of one class")
    a_idx, p_idx = pos_pairs.nonzero(as_tuple=True)
    d_ap = d[a_idx, p_idx]  # (M,)
    d_an = d[a_idx]  # (M, B)
    neg = ~same[a_idx]
    inf = torch.tensor(float("inf"), dtype=d.dtype, device=d.device)
    outside = neg & (d_an > d_ap.view(-1, 1))
    semihard = torch.where(outside, d_an, inf).min(1).values
    farthest = torch.where(neg, d_an, -inf).max(1).values
    has_semihard = outside.any(1)
    d_neg = torch.where(has_semihard, semihard, farthest)
    losses = torch.relu(d_ap - d_neg + margin)
    stats = {"active": float((losses > 0).float().mean()), "semihard": float(has_semihard.float().mean())}
    return losses.mean(), stats


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


def load_split(dataset: str, *, data_root: str | None, classes: str, image_size: int) -> tuple[Tensor, Tensor, Any]:
    """All images (P, 3, S, S) and labels (P,) of ``classes`` (both splits), and the dataset."""
    from attrbench.api import collate
    from attrbench.errors import DataError

    if dataset == "synthbirds":
        from attrbench.datasets.synthbirds import SynthBirds

        data: Any = SynthBirds(root=data_root, split="all", classes=classes, image_size=image_size, masks=False,
                               parts=False)
    elif dataset == "cub200":
        from attrbench.datasets.cub200 import CUB200

        if data_root is None:
            raise DataError("--dataset cub200 needs --data-root PATH (the CUB_200_2011 folder)")
        data = CUB200(root=data_root, split="all", classes=classes, image_size=image_size, masks=False, parts=False)
    else:
        raise ValueError(f"dataset must be 'synthbirds' or 'cub200', got {dataset!r}")
    batch = collate([data[i] for i in range(len(data))])
    return batch.images, batch.labels, data


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
    log=None,  # noqa: ANN001  (callable(str) or None)
):
    """Train an :class:`EmbeddingNet` (wrapped in an ImageModel); returns (model, history)."""
    from attrbench.api import ModelSpec
    from attrbench.models.common import ImageModel
    from attrbench.models.embedding import EmbeddingNet

    torch.manual_seed(seed)
    net = EmbeddingNet(backbone=backbone, width=width, layers=layers, dim=dim)
    spec = ModelSpec(name="embedding", kind="embedding", input_size=tuple(images.shape[-2:]), num_outputs=dim,
                     cam_layer="net." + net.cam_layer)  # type: ignore[arg-type]
    model = ImageModel(net, spec=spec).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = len(pk_batches(labels, p=p, k=k, generator=torch.Generator().manual_seed(seed)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, epochs * steps_per_epoch))
    history = []
    for epoch in range(epochs):
        model.train()
        total, n, active = 0.0, 0, 0.0
        for idx in pk_batches(labels, p=p, k=k, generator=gen):
            x = images[idx].to(device)
            flip = torch.rand(len(idx), generator=gen) < 0.5  # SynthBirds and CUB are mirror-invariant
            x = torch.where(flip.view(-1, 1, 1, 1).to(device), x.flip(-1), x)
            loss, stats = semihard_triplet_loss(model(x), labels[idx].to(device), margin=margin)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched.last_epoch + 1 < sched.total_steps:
                sched.step()
            total += float(loss.detach()) * len(idx)
            n += len(idx)
            active += stats["active"] * len(idx)
        history.append({"epoch": epoch + 1, "loss": total / n, "active": active / n})
        if log:
            log(f"epoch {epoch + 1}/{epochs}: loss {total / n:.4f}, active pairs {active / n:.2f}")
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
) -> Path:
    """Train on the first half of the classes, measure Recall@K on both halves, save a checkpoint.

    Long: over 60 lines because it is the whole protocol in order (load, train, evaluate, record the
    meta, save); splitting it would only pass the same dozen values between pieces.

    Args:
        dataset: "synthbirds" or "cub200"; data_root: its folder (None: SynthBirds' cache).
        image_size, backbone, width, layers, dim: the network (:class:`EmbeddingNet`).
        margin, epochs, classes_per_batch (P), images_per_class (K), lr, seed: the training recipe.
        device: where to train.
        name: model name stored in the checkpoint's spec.
        out: checkpoint path; metrics_out: optional JSON with Recall@K and the meta.
        command: the command line stored in the meta.

    Returns:
        The checkpoint path.
    """
    import dataclasses
    import json

    from attrbench.models.zoo import save_checkpoint

    start = time.perf_counter()
    train_x, train_y, train_data = load_split(dataset, data_root=data_root, classes="first_half",
                                              image_size=image_size)
    test_x, test_y, _ = load_split(dataset, data_root=data_root, classes="second_half", image_size=image_size)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    log(f"train: {len(train_y)} images of {train_y.unique().numel()} classes; "
        f"test: {len(test_y)} images of {test_y.unique().numel()} unseen classes")
    layers = tuple(layers)
    model, history = train(
        images=train_x, labels=train_y, backbone=backbone, width=width, layers=layers, dim=dim,
        margin=margin, epochs=epochs, p=classes_per_batch, k=images_per_class, lr=lr,
        seed=seed, device=device, log=log,
    )  # fmt: skip
    train_seconds = time.perf_counter() - start
    metrics = {f"test_{k}": v for k, v in recall_at_k(embed_images(model, test_x, device=device), test_y).items()}
    metrics.update({f"train_{k}": v for k, v in recall_at_k(embed_images(model, train_x, device=device),
                                                            train_y).items()})
    log("  ".join(f"{k} {v:.3f}" for k, v in metrics.items()) + f"  ({train_seconds:.0f} s)")
    model.spec = dataclasses.replace(model.spec, name=name)
    arch_kwargs = {"backbone": backbone, "width": width, "layers": list(layers), "dim": dim}
    meta = {
        "command": command,
        "metrics": metrics,
        "dataset": dataset,
        "data_root": str(getattr(train_data, "root", "")),
        "train_classes": "first_half",
        "test_classes": "second_half",
        "image_size": image_size,
        "margin": margin,
        "seed": seed,
        "train_seconds": round(train_seconds, 1),
        "threads": torch.get_num_threads(),
        "history": history,
        "torch": str(torch.__version__),
    }
    path = save_checkpoint(out, model=model, arch="embedding", arch_kwargs=arch_kwargs, meta=meta)
    log(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    if metrics_out:
        target = Path(metrics_out)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"checkpoint": str(out), **meta}, indent=2) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":  # python -m attrbench.embedding.train is attrbench train-embedding
    from attrbench.cli import forward

    sys.exit(forward("train-embedding"))
