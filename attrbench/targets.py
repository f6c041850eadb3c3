"""Targets: what a method explains, one scalar per sample from the model output.

Part of the extension contracts; import them from :mod:`attrbench.api`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor, nn

__all__ = ["ClassLogit", "ClassProbability", "FunctionTarget", "Target"]


class Target(ABC):
    """Turns model output into one scalar per sample.

    A target carries per-sample tensors (labels, reference embeddings, ...) in
    :attr:`per_sample`; attribution libraries expand them together with the inputs (Captum's
    ``additional_forward_args``), so a target is evaluated as ``target(output, *per_sample)``.
    """

    per_sample: tuple[Tensor, ...]

    @abstractmethod
    def __call__(self, output: Tensor, *per_sample: Tensor) -> Tensor:
        """Map model output (B, ...) and per-sample tensors (B, ...) to scores (B,)."""

    @abstractmethod
    def subset(self, index: Tensor | slice) -> Target:
        """The same target restricted to samples ``index``."""

    def score(self, output: Tensor) -> Tensor:
        """Scores (B,) for an output computed on exactly this target's samples."""
        return self(output, *self.per_sample)

    def forward_func(self, model: nn.Module):  # -> Callable[..., Tensor]
        """``f(x, *per_sample) -> (B,)``: the scalar function a method explains."""
        target = self

        def f(x: Tensor, *per_sample: Tensor) -> Tensor:
            return target(model(x), *per_sample)

        return f


class ClassLogit(Target):
    """Pre-softmax score of class ``labels[i]`` for sample i (Grad-CAM's y^c)."""

    def __init__(self, labels: Tensor) -> None:
        if labels.ndim != 1:
            raise ValueError(f"labels must be 1-D (B,), got shape {tuple(labels.shape)}")
        self.labels = labels.long()
        self.per_sample = (self.labels,)

    def __call__(self, output: Tensor, *per_sample: Tensor) -> Tensor:
        (labels,) = per_sample
        return output.gather(1, labels.view(-1, 1)).squeeze(1)

    def subset(self, index: Tensor | slice) -> ClassLogit:
        return ClassLogit(self.labels[index])

    def __repr__(self) -> str:
        return "ClassLogit()"


class ClassProbability(ClassLogit):
    """Softmax probability of class ``labels[i]``."""

    def __call__(self, output: Tensor, *per_sample: Tensor) -> Tensor:
        (labels,) = per_sample
        return output.softmax(1).gather(1, labels.view(-1, 1)).squeeze(1)

    def subset(self, index: Tensor | slice) -> ClassProbability:
        return ClassProbability(self.labels[index])

    def __repr__(self) -> str:
        return "ClassProbability()"


class FunctionTarget(Target):
    """A target from any function ``fn(output, *per_sample) -> (B,)``.

    Used by the embedding track (triplet loss, similarity to a reference embedding) and by users.
    """

    def __init__(self, fn, *per_sample: Tensor, name: str = "function") -> None:  # noqa: ANN001
        self.fn = fn
        self.per_sample = tuple(per_sample)
        self.name = name

    def __call__(self, output: Tensor, *per_sample: Tensor) -> Tensor:
        return self.fn(output, *per_sample)

    def subset(self, index: Tensor | slice) -> FunctionTarget:
        return FunctionTarget(self.fn, *(t[index] for t in self.per_sample), name=self.name)

    def __repr__(self) -> str:
        return f"FunctionTarget({self.name})"
