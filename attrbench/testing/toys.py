"""Tiny stand-ins for runner and metric tests: samples with masks by construction, toy methods,
a toy model factory (usable as ``attrbench.testing.toys:toy_model``)."""

from __future__ import annotations

import time

import torch
from torch import Tensor, nn

from attrbench.api import AttributionMethod, MethodInfo, ModelSpec, Resolution, Sample, Target
from attrbench.models.common import ImageModel
from attrbench.testing.models import tiny_bagnet

__all__ = ["FailingForSecond", "NaNForFirst", "ToyInputXGradient", "make_context", "toy_model", "toy_samples"]


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
    q = getattr(getattr(model, "spec", None), "receptive_field", None)
    rf = None
    if q is not None:
        from attrbench.models.bagnet import ReceptiveField

        rf = ReceptiveField(size=q, stride=model.spec.rf_stride)  # type: ignore[union-attr]
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
