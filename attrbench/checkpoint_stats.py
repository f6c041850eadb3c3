"""Numbers derived from a checkpoint by running it, for the checkpoint table and the slow re-checks.

* **Truth mass inside the bird mask** (:func:`truth_mass_in_mask`, SynthBirds BagNets): for every
  image of the checkpoint's own test split (the split its ``test_accuracy`` was measured on), the
  exact patch truth of the true class without a baseline, g_p = (l_{p,c}(x) - b_c) / N
  (:func:`attrbench.ground_truth.patch_truth`), is cut to its positive part, spread evenly over
  each patch's receptive field (:func:`attrbench.ground_truth.patches_to_pixels`) and weighted by
  the soft bird mask: the share of positive evidence that lies on the bird. The value is the mean of
  the per-image shares (images without positive evidence are left out and counted). Its **chance
  level** (``chance``) is the same share for a map that gives every patch the same positive mass:
  a large patch that sees the bird also covers much background, so the share any map can reach
  falls with the patch size q, and a value is read against this level, not against 0 or 0.5.
  Its **ceiling** (``ceiling``) is the largest share any patch map can reach: a patch's mass lands
  in the mask in proportion to the bird's share of its window, so an image's share is at most that
  of its most-bird window, and the ceiling is the mean of that maximum over the same images. With
  both ends known, ``normalised = (value - chance) / (ceiling - chance)`` reads 0 at chance and 1
  for a model whose evidence all sits on its image's most-bird window.
* **Coverage** (:func:`coverage`): share of the input's pixels seen by at least one patch
  (:func:`attrbench.geometry.model_coverage_fraction`); None for models without a patch grid.
* **Re-checks** (:func:`recheck`): test accuracy, no-bird accuracy and the stored logits,
  recomputed from the shipped file and the generated data; for an embedding, Recall@K.

Computing the truth mass takes a pass over the test split, so :func:`derived` caches it with the
coverage in ``<checkpoint>.derived.json`` beside the checkpoint, keyed by the checkpoint's SHA-256
(a changed checkpoint is recomputed); the slow tests recompute and compare.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from attrbench.models.common import ImageModel

__all__ = [
    "coverage", "derived", "derived_path", "recheck", "recheck_embedding", "split_kwargs", "truth_mass_in_mask",
]  # fmt: skip

#: version of the derived numbers' definition (bump to invalidate caches).
DERIVED_VERSION = 3


def split_kwargs(meta: dict[str, Any], *, split: str = "test") -> dict[str, Any]:
    """:func:`attrbench.train_data.open_split` options that rebuild a checkpoint's data split from its meta."""
    data = meta.get("dataset")
    if not isinstance(data, dict):
        raise ValueError("checkpoint meta has no 'dataset' section in attrbench.train's format")
    return {
        "dataset": data["name"], "split": split, "data_root": data.get("root"), "image_size": int(data["image_size"]),
        "dataset_args": dict(data.get("args") or {}), "limit_per_class": data.get(f"{split}_limit_per_class"),
    }  # fmt: skip


def coverage(model: ImageModel) -> float | None:
    """Share of input pixels some patch sees (BagNets); None for models without a patch grid."""
    from attrbench.geometry import model_coverage_fraction

    if model.spec.receptive_field is None:
        return None
    return model_coverage_fraction(model, size=tuple(model.spec.input_size))  # type: ignore[arg-type]


def _masked_batches(model: ImageModel, *, batch_size: int):  # noqa: ANN202  (yields tensors)
    """(images, labels, masks) batches of the checkpoint's test split, limit per class applied."""
    from attrbench.train_data import open_split

    kwargs = split_kwargs(model.checkpoint_meta)
    limit = kwargs["limit_per_class"]
    data, applied = open_split(**kwargs)
    taken: dict[int, int] = {}
    batch: list[Any] = []
    for i in range(len(data)):
        s = data[i]
        taken[int(s.label)] = taken.get(int(s.label), 0) + 1
        if applied or limit is None or taken[int(s.label)] <= limit:
            batch.append(s)
        if len(batch) == batch_size or (i == len(data) - 1 and batch):
            yield (torch.stack([b.image for b in batch]), torch.tensor([int(b.label) for b in batch]),
                   torch.stack([b.mask for b in batch]).to(torch.float64))  # fmt: skip
            batch = []


def _share_inside(g: torch.Tensor, masks: torch.Tensor, *, rf: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Share of the patch map g (B, H', W') >= 0, spread over the receptive fields, inside masks
    (B, 1, H, W); and which images have positive mass (B,)."""
    from attrbench.ground_truth import patches_to_pixels

    pixels = patches_to_pixels(g, rf=rf, size=tuple(masks.shape[-2:]))  # type: ignore[arg-type]
    total = pixels.sum((1, 2, 3))
    keep = total > 0
    return (pixels * masks).sum((1, 2, 3)) / total.where(keep, torch.ones_like(total)), keep


def _best_window_share(masks: torch.Tensor, *, rf: Any) -> torch.Tensor:
    """(B,) the largest share of bird (soft mask, (B, 1, H, W)) in any patch window (rows [s i, s i + q), same for columns)."""
    shares = torch.nn.functional.avg_pool2d(masks, kernel_size=rf.size, stride=rf.stride)
    return shares.flatten(1).max(dim=1).values


@torch.no_grad()
def truth_mass_in_mask(model: ImageModel, *, batch_size: int = 50) -> dict[str, Any] | None:
    """Mean share of the true class's positive patch evidence inside the bird mask (module docstring).

    Returns:
        {"value", "chance", "ceiling", "normalised", "n_images", "n_without_positive_mass", "sample"}; None for models without a patch
        grid or data without masks (only SynthBirds is checked).
    """
    from attrbench.ground_truth import patch_truth, receptive_field_of

    meta = model.checkpoint_meta
    if model.spec.receptive_field is None or not isinstance(meta.get("dataset"), dict):
        return None
    if meta["dataset"].get("name") != "synthbirds":
        return None
    rf = receptive_field_of(model)
    model = model.eval()
    shares: list[float] = []
    uniform: list[float] = []
    best: list[float] = []
    skipped = 0
    for images, labels, masks in _masked_batches(model, batch_size=batch_size):
        g = patch_truth(model, images, labels=labels, baseline=None).to(torch.float64).clamp_min(0)
        share, keep = _share_inside(g, masks, rf=rf)
        skipped += int((~keep).sum())
        shares += share[keep].tolist()
        uniform += _share_inside(torch.ones_like(g), masks, rf=rf)[0][keep].tolist()
        best += _best_window_share(masks, rf=rf)[keep].tolist()
    value, chance, ceiling = (float(sum(v) / len(v)) if v else float("nan") for v in (shares, uniform, best))
    return {
        "value": value,
        "chance": chance,
        "ceiling": ceiling,
        "normalised": (value - chance) / (ceiling - chance) if ceiling > chance else float("nan"),
        "n_images": len(shares) + skipped,
        "n_without_positive_mass": skipped,
        "sample": "test split of the checkpoint's data (every image)",
    }


def derived_path(checkpoint: str | Path) -> Path:
    """``<checkpoint>.derived.json`` beside the checkpoint."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + ".derived.json")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def derived(checkpoint: str | Path, *, recompute: bool = False, write: bool = True) -> dict[str, Any]:
    """Coverage and truth mass of a checkpoint, from the cache beside it when it matches the file.

    Args:
        checkpoint: a ``.pt`` checkpoint in attrbench's format.
        recompute: ignore the cache.
        write: store a recomputed result in the cache.
    """
    from attrbench.models.zoo import load_checkpoint

    checkpoint = Path(checkpoint)
    digest = _sha256(checkpoint)
    cache = derived_path(checkpoint)
    if not recompute and cache.is_file():
        stored = json.loads(cache.read_text(encoding="utf-8"))
        if stored.get("sha256") == digest and stored.get("version") == DERIVED_VERSION:
            return stored
    model = load_checkpoint(checkpoint)
    result = {"version": DERIVED_VERSION, "sha256": digest, "coverage": coverage(model),
              "truth_mass_in_mask": truth_mass_in_mask(model)}  # fmt: skip
    if write:
        cache.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def _accuracy(model: ImageModel, kwargs: dict[str, Any], **extra: Any) -> tuple[float, int]:
    from attrbench.train import evaluate_accuracy, load_training_data

    data = load_training_data(**{**kwargs, **extra})
    return evaluate_accuracy(model, data, batch_size=64, device=torch.device("cpu")), len(data.labels)


def _logit_error(model: ImageModel, meta: dict[str, Any], kwargs: dict[str, Any]) -> float:
    """Largest |stored - recomputed| logit over the stored probe images and test samples."""
    from attrbench.train import load_training_data, probe_inputs

    errors = []
    with torch.no_grad():
        probe = meta.get("probe") or {}
        if probe.get("logits"):
            got = model(probe_inputs(tuple(model.spec.input_size)))  # type: ignore[arg-type]
            errors.append(float((got - torch.tensor(probe["logits"])).abs().max()))
        tp = meta.get("test_probe") or {}
        if tp.get("ids"):
            data = load_training_data(**kwargs)
            index = {sample_id: i for i, sample_id in enumerate(data.ids)}
            images = data.images[[index[i] for i in tp["ids"]]]
            errors.append(float((model(images) - torch.tensor(tp["logits"])).abs().max()))
    return max(errors) if errors else float("nan")


def recheck(checkpoint: str | Path, *, data_root: str | Path | None = None) -> dict[str, Any]:
    """Recompute a classifier checkpoint's stored numbers from the file and its data.

    ``data_root`` replaces the data folder recorded in the meta (for example CIFAR-10 elsewhere).

    Returns:
        {"stored": {...}, "recomputed": {...}, "n_test": int}: test and no-bird accuracy (SynthBirds
        generated data), the largest stored-logit error and, for BagNets on SynthBirds, the truth mass
        and coverage (stored = the cache beside the checkpoint, if any).
    """
    from attrbench.models.zoo import load_checkpoint

    checkpoint = Path(checkpoint)
    model = load_checkpoint(checkpoint).eval()
    meta = model.checkpoint_meta
    kwargs = split_kwargs(meta)
    if data_root is not None:
        kwargs["data_root"] = str(data_root)
    metrics = meta.get("metrics", {})
    stored: dict[str, Any] = {"test_accuracy": metrics.get("test_accuracy"), "no_bird_accuracy": metrics.get("no_bird_accuracy")}
    recomputed: dict[str, Any] = {}
    recomputed["test_accuracy"], n_test = _accuracy(model, kwargs)
    if stored["no_bird_accuracy"] is not None:
        recomputed["no_bird_accuracy"], _ = _accuracy(model, kwargs, without_bird=True)
    recomputed["max_logit_error"] = _logit_error(model, meta, kwargs)
    cache = derived_path(checkpoint)
    if cache.is_file():
        stored["derived"] = json.loads(cache.read_text(encoding="utf-8"))
    recomputed["derived"] = derived(checkpoint, recompute=True, write=False)
    return {"stored": stored, "recomputed": recomputed, "n_test": n_test}


def recheck_embedding(checkpoint: str | Path) -> dict[str, Any]:
    """Recall@K of an embedding checkpoint on its unseen classes, stored and recomputed.

    SynthBirds: the default generated dataset, whose unseen classes are what training evaluated on
    (a larger generated copy recorded as ``data_root`` only supplied the training classes).
    CUB-200: the data folder recorded in the meta, when it exists here.

    Returns:
        {"stored": {"test_recall@1": ...}, "recomputed": {...}, "n_test": int}.
    """
    from attrbench.embedding.train import embed_images, load_split, recall_at_k
    from attrbench.models.zoo import load_checkpoint

    model = load_checkpoint(checkpoint).eval()
    meta = model.checkpoint_meta
    root = meta.get("data_root")
    root = root if root and Path(root).is_dir() and meta["dataset"] != "synthbirds" else None
    images, labels, _ = load_split(meta["dataset"], data_root=root, classes=meta.get("test_classes", "second_half"),
                                   image_size=int(meta["image_size"]))  # fmt: skip
    with torch.no_grad():
        got = recall_at_k(embed_images(model, images, device=torch.device("cpu")), labels)
    stored = {f"test_{k}": meta["metrics"].get(f"test_{k}") for k in got}
    return {"stored": stored, "recomputed": {f"test_{k}": v for k, v in got.items()}, "n_test": len(labels)}
