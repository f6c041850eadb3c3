"""Train the small BagNets that attrbench ships (``attrbench train``).

Recipe (chosen for CPU budgets of a few minutes per model; recorded in every checkpoint's meta):
    * data: a dataset from ``attrbench.datasets.DATASETS`` is held in memory as (N, 3, H, W) in
      [0, 1]; normalisation mean/std are computed from the training images and stored in the spec;
    * augmentation: random translation by up to ``image_size // 8`` pixels (zero padding, then a
      crop back to size) and, for datasets whose classes are mirror-invariant, horizontal flips;
    * optimiser: AdamW (lr, weight decay) with a per-step cosine schedule to 0 after a linear
      warm-up over the first 5 % of steps; cross-entropy loss; batch order from a seeded generator;
    * precision: float32, or ``precision="bf16"``: the forward and backward passes of training run
      under bfloat16 autocast (weights, optimiser state, BN recalibration and every evaluation stay
      float32). On a CPU with AVX-512 BF16 this is about 3x faster per step for the small BagNets
      (``scripts/bench_train_step.py``), which is what lets them converge within the 45-minute
      training budget;
    * BatchNorm recalibration after training: running statistics are re-estimated as exact
      averages over (a seeded subset of) the un-augmented training images. BagNet's stem BN uses
      the official momentum 0.001, so after a few hundred steps its running statistics would
      still be close to their initial values and eval-mode accuracy would collapse;
    * evaluation: accuracy on the test split; for generated SynthBirds also on the same test
      scenes rendered without the bird (near chance, 1/num_classes, for a model that uses the bird);
    * reproducibility: same seed and same CPU thread count -> bit-identical weights (checked by
      tests/test_train.py); every checkpoint stores its logits on seeded random probe images and
      on evenly spaced test images, so a loaded model can be checked against the trained one.

``attrbench checkpoints`` tabulates the shipped checkpoints (:mod:`attrbench.checkpoint_table`).
"""

from __future__ import annotations

import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attrbench.api import ModelSpec
from attrbench.errors import OptionError
from attrbench.machine import load_average, machine_info
from attrbench.models.common import ImageModel
from attrbench.models.zoo import build_arch, save_checkpoint
from attrbench.train_data import TrainData, load_training_data

__all__ = [
    "TrainData",
    "evaluate_accuracy",
    "load_training_data",
    "probe_inputs",
    "recalibrate_batchnorm",
    "train",
]

#: architectures ``train`` accepts (BagNets and the comparison networks).
CLASSIFIER_ARCHS = ("bagnet9", "bagnet17", "bagnet33", "resnet", "vgg")
#: datasets whose classes do not change under a left-right mirror (flip augmentation is safe).
FLIP_INVARIANT = {"cifar10": True, "synthbirds": True}
#: training images used for the BatchNorm recalibration.
BN_RECALIBRATION_IMAGES = 2048
WARMUP_FRACTION = 0.05
#: training precisions: float32 throughout, or bfloat16 autocast in the training passes.
PRECISIONS = ("fp32", "bf16")

#: seeded random images whose logits every checkpoint stores, so a loaded model can be checked
#: against the one that was trained without any dataset.
PROBE_SEED = 0
PROBE_COUNT = 4
#: evenly spaced test samples whose ids and logits every checkpoint stores.
TEST_PROBE_COUNT = 10


def _augment(x: Tensor, *, shift: int, flip: bool, generator: torch.Generator) -> Tensor:
    """Random translation by up to ``shift`` pixels (zero fill) and optional horizontal flips."""
    b, _, h, w = x.shape
    if shift > 0:
        padded = F.pad(x, (shift, shift, shift, shift))
        offsets = torch.randint(0, 2 * shift + 1, (b, 2), generator=generator)
        # gather-based crop: one (h, w) window per sample at its own offset, no Python loop
        rows = (offsets[:, 0, None] + torch.arange(h)).view(b, 1, h, 1).expand(b, x.shape[1], h, w + 2 * shift)
        x = padded.gather(2, rows.to(x.device))
        cols = (offsets[:, 1, None] + torch.arange(w)).view(b, 1, 1, w).expand(b, x.shape[1], h, w)
        x = x.gather(3, cols.to(x.device))
    if flip:
        mirror = torch.rand(b, generator=generator) < 0.5
        x = torch.where(mirror.view(b, 1, 1, 1).to(x.device), x.flip(3), x)
    return x


@torch.no_grad()
def recalibrate_batchnorm(model: ImageModel, images: Tensor, *, batch_size: int, device: torch.device) -> None:
    """Re-estimate every BatchNorm's running statistics as an exact average over ``images``."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average = exact mean over the batches seen
    model.train()
    try:
        for start in range(0, len(images), batch_size):
            model(images[start : start + batch_size].to(device))
    finally:
        for m, momentum in zip(bns, momenta):
            m.momentum = momentum
        model.eval()


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, data: TrainData, *, batch_size: int, device: torch.device) -> float:
    """Top-1 accuracy of an eval-mode model on ``data``."""
    model.eval()
    correct = 0
    for start in range(0, len(data.labels), batch_size):
        logits = model(data.images[start : start + batch_size].to(device))
        correct += int((logits.argmax(1).cpu() == data.labels[start : start + batch_size]).sum())
    return correct / len(data.labels)


def probe_inputs(size: tuple[int, int], *, dtype: torch.dtype = torch.float32) -> Tensor:
    """(PROBE_COUNT, 3, H, W) uniform images in [0, 1] from a generator seeded with PROBE_SEED."""
    gen = torch.Generator().manual_seed(PROBE_SEED)
    return torch.rand(PROBE_COUNT, 3, *size, generator=gen).to(dtype)


def cam_geometry(arch: str, net: nn.Module) -> dict[str, Any]:
    """ModelSpec fields that depend on the architecture: CAM layers and the BagNet patch size."""
    if arch.startswith("bagnet"):
        layers = ("net.layer2", "net.layer3", "net.layer4")
        return {"cam_layer": layers[-1], "cam_layers": layers, "receptive_field": int(arch.removeprefix("bagnet"))}
    if arch == "vgg":  # the last ReLU of each stage (the input of its max-pooling)
        layers = tuple(f"net.features.{i - 1}" for i in net.stage_ends())  # type: ignore[operator]
    else:
        layers = ("net.layer2", "net.layer3", "net.layer4")
    return {"cam_layer": layers[-1], "cam_layers": layers[-3:], "receptive_field": None}


def _versions() -> dict[str, str]:
    import numpy

    import attrbench

    return {
        "attrbench": attrbench.__version__,
        "torch": str(torch.__version__),
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "torch_threads": str(torch.get_num_threads()),
    }


def train(
    *,
    arch: str,
    dataset: str,
    data_root: str | Path | None = None,
    image_size: int,
    width: int,
    layers: tuple[int, int, int, int] = (1, 1, 1, 1),
    arch_args: dict[str, int] | None = None,
    dataset_args: dict[str, int] | None = None,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    device: torch.device,
    out: str | Path,
    train_limit_per_class: int | None = None,
    test_limit_per_class: int | None = None,
    augment: bool = True,
    precision: str = "fp32",
    command: str = "",
    progress: bool = True,
) -> dict[str, Any]:
    """Train a BagNet classifier and write an attrbench checkpoint plus ``<out>.json`` metrics.

    Long: the training recipe, step by step in the order it runs (as recorded with each checkpoint).

    Args:
        arch: "bagnet9", "bagnet17", "bagnet33" or a comparison network, "resnet" or "vgg"
            (:mod:`attrbench.models.comparison`).
        dataset: a name in ``attrbench.datasets.DATASETS``.
        data_root: dataset folder (None: the dataset's default, e.g. SynthBirds' cache).
        image_size: side of the square training/test images (the spec's input size).
        width, layers: BagNet size (see :class:`attrbench.models.bagnet.BagNet`); ``layers`` is
            ignored by the comparison networks.
        arch_args: further factory options of a comparison network (``blocks``, ``stem_stride``,
            ``convs``).
        dataset_args: dataset constructor options, e.g. ``train_per_class`` for SynthBirds.
        epochs, batch_size, lr, weight_decay: AdamW with warm-up + cosine schedule (module docs).
        seed: seeds weights, batch order and augmentation (same seed, same threads -> same weights).
        device: where to train.
        out: checkpoint path; the spec's name is its stem.
        train_limit_per_class, test_limit_per_class: use only the first N images of every class.
        augment: random translation (+ flips for mirror-invariant datasets).
        precision: "fp32", or "bf16" for bfloat16 autocast in the training passes (module docs).
        command: the exact command line, stored in the checkpoint's meta.
        progress: show a tqdm progress bar.

    Returns:
        The metrics dict also stored in the checkpoint (test accuracy, no-bird accuracy for
        SynthBirds, final training loss, train seconds, ...).
    """
    from tqdm import tqdm

    if arch not in CLASSIFIER_ARCHS:
        raise OptionError(f"unknown classifier architecture {arch!r}; choose {', '.join(CLASSIFIER_ARCHS)}")
    if precision not in PRECISIONS:
        raise OptionError(f"unknown precision {precision!r}; choose {', '.join(PRECISIONS)}")
    if min(epochs, batch_size, width, image_size) < 1 or lr <= 0:
        raise OptionError("epochs, batch_size, width, image_size and lr must be positive")
    out = Path(out)
    started = time.perf_counter()
    machine = machine_info()  # load average at the start; the end's is added below
    dataset_args = dict(dataset_args or {})
    train_data = load_training_data(
        dataset=dataset, split="train", data_root=data_root, image_size=image_size,
        limit_per_class=train_limit_per_class, dataset_args=dataset_args,
    )
    test_data = load_training_data(
        dataset=dataset, split="test", data_root=data_root, image_size=image_size,
        limit_per_class=test_limit_per_class, dataset_args=dataset_args,
    )
    num_classes = len(train_data.class_names)
    mean = tuple(round(float(v), 4) for v in train_data.images.mean(dim=(0, 2, 3)))
    std = tuple(round(float(v), 4) for v in train_data.images.std(dim=(0, 2, 3)))
    arch_kwargs: dict[str, Any] = {"num_classes": num_classes, "width": width}
    if arch.startswith("bagnet"):
        arch_kwargs["layers"] = tuple(layers)
    arch_kwargs.update(arch_args or {})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_arch(arch, arch_kwargs)
    spec = ModelSpec(
        name=out.stem,
        input_size=(image_size, image_size),
        num_outputs=num_classes,
        mean=mean,  # type: ignore[arg-type]
        std=std,  # type: ignore[arg-type]
        class_names=train_data.class_names,
        **cam_geometry(arch, net),
    )
    model = ImageModel(net, spec=spec).to(device)

    generator = torch.Generator().manual_seed(seed)
    n = len(train_data.labels)
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = epochs * steps_per_epoch
    warmup = max(1, int(WARMUP_FRACTION * total_steps))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (step + 1) / warmup if step < warmup
        else 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total_steps - warmup))),
    )
    shift = image_size // 8 if augment else 0
    flip = augment and FLIP_INVARIANT.get(dataset, False)
    bar = tqdm(total=total_steps, desc=out.stem, disable=not progress, unit="step")
    loss_sum, correct, seen = 0.0, 0, 0
    for _epoch in range(epochs):
        model.train()
        order = torch.randperm(n, generator=generator)
        loss_sum, correct, seen = 0.0, 0, 0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            x = _augment(train_data.images[idx], shift=shift, flip=flip, generator=generator).to(device)
            y = train_data.labels[idx].to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                logits = model(x)
                loss = F.cross_entropy(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(idx)
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        if not progress:  # one line per epoch for logs
            print(f"{out.stem}: epoch {_epoch + 1}/{epochs} loss {loss_sum / seen:.4f} train_acc "
                  f"{correct / seen:.4f} elapsed {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    bar.close()
    calib = torch.randperm(n, generator=generator)[:BN_RECALIBRATION_IMAGES].sort().values
    recalibrate_batchnorm(model, train_data.images[calib], batch_size=batch_size, device=device)
    train_seconds = time.perf_counter() - started

    metrics: dict[str, Any] = {
        "test_accuracy": evaluate_accuracy(model, test_data, batch_size=batch_size, device=device),
        "chance": 1.0 / num_classes,
        "train_loss_last_epoch": loss_sum / max(1, seen),
        "train_accuracy_last_epoch": correct / max(1, seen),
        "train_seconds": round(train_seconds, 1),
        "n_train": n,
        "n_test": len(test_data.labels),
    }
    if dataset == "synthbirds" and data_root is None:
        # the generator renders the same test scenes without their bird into a sibling cache folder;
        # a user-given root has no such twin, so the check is only made on generated data
        no_bird = load_training_data(
            dataset=dataset, split="test", data_root=data_root, image_size=image_size,
            limit_per_class=test_limit_per_class, without_bird=True, dataset_args=dataset_args,
        )
        metrics["no_bird_accuracy"] = evaluate_accuracy(model, no_bird, batch_size=batch_size, device=device)
    metrics["params"] = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        probe_logits = model(probe_inputs(spec.input_size).to(device)).cpu()
        picks = torch.linspace(0, len(test_data.labels) - 1, min(TEST_PROBE_COUNT, len(test_data.labels))).long()
        test_logits = model(test_data.images[picks].to(device)).cpu()

    meta = {
        "command": command,
        "metrics": metrics,
        "dataset": {
            "name": dataset,
            "root": None if data_root is None else str(data_root),
            "image_size": image_size,
            "train_limit_per_class": train_limit_per_class,
            "test_limit_per_class": test_limit_per_class,
            "args": dataset_args,
            "normalisation": "per-channel mean/std of the training images",
        },
        "seed": seed,
        "recipe": {
            "optimizer": "AdamW",
            "lr": lr,
            "weight_decay": weight_decay,
            "schedule": f"linear warm-up {WARMUP_FRACTION:.0%} of steps, then cosine to 0 (per step)",
            "epochs": epochs,
            "batch_size": batch_size,
            "augment": {"translate_px": shift, "hflip": flip},
            "precision": precision,
            "bn_recalibration_images": len(calib),
        },
        "device": str(device),
        "machine": {**machine, "load_average_end": load_average()},
        "versions": _versions(),
        "probe": {"seed": PROBE_SEED, "count": PROBE_COUNT, "logits": probe_logits.tolist()},
        "test_probe": {
            "ids": [test_data.ids[int(i)] for i in picks] if test_data.ids else [],
            "labels": test_data.labels[picks].tolist(),
            "logits": test_logits.tolist(),
        },
    }
    save_checkpoint(out, model=model.cpu(), arch=arch, arch_kwargs=arch_kwargs, meta=meta)
    json_path = out.with_suffix(".json")
    json_path.write_text(json.dumps({"checkpoint": out.name, **meta}, indent=2) + "\n")
    return metrics


if __name__ == "__main__":  # python -m attrbench.train is attrbench train
    from attrbench.cli import forward
    sys.exit(forward("train"))
