"""Tiny stand-ins for runner and metric tests: samples with masks by construction, toy methods,
a toy model factory (usable as ``attrbench.testing.toys:toy_model``), and a model and dataset
addressable by name (:data:`MODEL`, :data:`DATASET`) so that a run made with them can be
re-created from its ``config.json`` alone (``attrbench check --method``, the report gallery)."""

from __future__ import annotations

import dataclasses
import time

import torch
from torch import Tensor, nn

from attrbench.api import AttributionMethod, MethodInfo, ModelSpec, Resolution, Sample, Target
from attrbench.models.common import ImageModel
from attrbench.testing.models import tiny_bagnet

__all__ = ["DATASET", "MODEL", "ToyImages", "tiny_model", "FailingForSecond", "NaNForFirst", "ToyInputXGradient", "make_context", "toy_model", "toy_samples"]


def toy_model() -> ImageModel:
    """A float32 tiny BagNet-9 with 5 classes for 48 x 48 inputs (seeded)."""
    return tiny_bagnet(9, num_classes=5, width=4, seed=0, dtype=torch.float32, input_size=(48, 48))


def toy_samples(
    n: int = 6, *, size: int = 48, num_classes: int = 5, seed: int = 0, masks: bool = True, boxes: bool = True
) -> list[Sample]:
    """``n`` random images; sample i has a rectangular mask rows [8, 24) x cols [8 + i % 3 * 8, 24 + i % 3 * 8)
    and the matching box; label i % num_classes."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        image = torch.rand(3, size, size, generator=gen)
        c0 = 8 + (i % 3) * 8
        mask = torch.zeros(1, size, size)
        mask[:, 8:24, c0 : c0 + 16] = 1.0
        out.append(
            Sample(
                image=image,
                label=i % num_classes,
                id=f"s{i:03d}",
                mask=mask if masks else None,
                bbox=(float(c0), 8.0, 16.0, 16.0) if boxes else None,
            )
        )
    return out


class ToyInputXGradient(AttributionMethod):
    """x * df/dx (plain autograd), (B, 3, H, W); ``delay`` seconds of sleep per call (resume tests)."""

    info = MethodInfo(name="toy-ixg", paper="Shrikumar et al., 2016 (gradient x input)", resolution=Resolution.INPUT)

    def __init__(self, model: nn.Module, *, spec: ModelSpec, delay: float = 0.0) -> None:
        super().__init__(model, spec=spec)
        self.delay = float(delay)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        if self.delay:
            time.sleep(self.delay)
        x = inputs.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(target.score(self.model(x)).sum(), x)
        return (grad * x).detach()


class NaNForFirst(ToyInputXGradient):
    """Like :class:`ToyInputXGradient` but returns NaN for the first sample of every batch."""

    info = MethodInfo(name="toy-nan-first", paper="test stand-in", resolution=Resolution.INPUT)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        out = super().attribute(inputs, target=target)
        out[0] = float("nan")
        return out


class FailingForSecond(ToyInputXGradient):
    """Raises whenever its input holds the second sample of a batch (so a batch call raises too)."""

    info = MethodInfo(name="toy-raise-second", paper="test stand-in", resolution=Resolution.INPUT)

    def __init__(self, model: nn.Module, *, spec: ModelSpec, bad_value: float = -1.0) -> None:
        super().__init__(model, spec=spec)
        self.bad_value = float(bad_value)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        if bool((inputs[:, 0, 0, 0] == self.bad_value).any()):
            raise RuntimeError("toy failure on a marked image")
        return super().attribute(inputs, target=target)


def make_context(
    *,
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    maps: Tensor,
    raw: Tensor | None = None,
    masks: Tensor | None = None,
    bboxes: Tensor | None = None,
    grid_map: Tensor | None = None,
    info: MethodInfo | None = None,
    baseline: float | None = None,
    explain=None,  # noqa: ANN001 - Callable[[nn.Module], Tensor]
    seconds: float = float("nan"),
    max_forward_batch: int = 256,
):  # -> MetricContext
    """A :class:`attrbench.metrics.base.MetricContext` for metric tests (ClassLogit target)."""
    from attrbench.api import Batch, ClassLogit
    from attrbench.metrics.base import MetricContext

    b = images.shape[0]
    batch = Batch(images=images, labels=labels, ids=[f"s{i}" for i in range(b)], masks=masks, bboxes=bboxes)
    q = model.spec.receptive_field if isinstance(model, ImageModel) else None
    rf = None
    if q is not None:
        from attrbench.models.bagnet import ReceptiveField

        rf = ReceptiveField(size=q, stride=model.spec.rf_stride)
    return MetricContext(
        model=model,  # type: ignore[arg-type]
        batch=batch,
        target=ClassLogit(labels),
        raw=maps if raw is None else raw,
        maps=maps,
        method_info=info or ToyInputXGradient.info,
        explain=explain or (lambda m: maps),
        sample_index=torch.arange(b),
        grid_map=grid_map,
        baseline=baseline,
        rf=rf,
        seconds=seconds,
        max_forward_batch=max_forward_batch,
    )


MODEL = "attrbench.testing.toys:tiny_model"
DATASET = "attrbench.testing.toys:ToyImages"


def tiny_model() -> ImageModel:
    """Random-init float64 BagNet-9 (5 classes, width 4) on 32 x 32 inputs, named by its address."""
    model = tiny_bagnet(9, num_classes=5, width=4, seed=0, input_size=(32, 32))
    model.spec = dataclasses.replace(model.spec, name=MODEL, class_names=tuple(f"class{i}" for i in range(5)))
    return model


class ToyImages:
    """``n`` seeded uniform-noise 32 x 32 images, labels ``i % 5``, ids ``toy<i>``, centred square masks.

    Accepts the runner's dataset keywords (``split``, ``image_size``, ``root``) and ignores them.
    """

    name = DATASET
    has_masks = True
    has_bboxes = True

    def __init__(self, *, split: str = "test", image_size: object = None, root: object = None, n: int = 6) -> None:
        gen = torch.Generator().manual_seed(1)
        mask = torch.zeros(1, 32, 32)
        mask[:, 8:24, 8:24] = 1.0
        self.samples = [
            Sample(image=torch.rand(3, 32, 32, generator=gen), label=i % 5, id=f"toy{i}", mask=mask,
                   bbox=(8.0, 8.0, 16.0, 16.0))
            for i in range(n)
        ]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> Sample:
        return self.samples[i]
