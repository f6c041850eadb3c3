"""Tracks: what a run explains. A track turns a batch into a :class:`Target` and prepares
whatever its methods need (e.g. a weight-transfer database for the embedding track).

    classification (default): Target = ClassLogit(labels) on a classifier.
    embedding: Target from an embedding network (see attrbench.embedding.track).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch

from attrbench.api import Batch, ClassLogit, Target
from attrbench.models.common import ImageModel
from attrbench.registry import Registry

__all__ = ["ClassificationTrack", "TRACKS", "Track", "get_track"]


class Track(ABC):
    """What a run explains and how.

    Lifecycle in the runner: ``prepare`` once per run, then ``make_target`` per batch;
    ``method_kwargs`` adds constructor arguments for methods that need track resources.
    """

    name: ClassVar[str]
    default_model: ClassVar[str]
    default_dataset: ClassVar[str]
    default_metrics: ClassVar[tuple[str, ...]]

    def prepare(self, *, model: ImageModel, dataset: Any, device: torch.device, seed: int) -> None:
        """Build per-run resources (default: nothing)."""

    @abstractmethod
    def make_target(self, *, model: ImageModel, batch: Batch) -> Target:
        """The target for one batch (already on the device)."""

    def method_kwargs(self, method_cls: type) -> dict[str, Any]:
        """Extra constructor arguments for ``method_cls`` (default: none)."""
        return {}


class ClassificationTrack(Track):
    name = "classification"
    default_model = "bagnet17-synthbirds"
    default_dataset = "synthbirds"
    default_metrics = ("gt", "deletion", "insertion", "localisation", "randomisation", "runtime")

    def make_target(self, *, model: ImageModel, batch: Batch) -> Target:
        return ClassLogit(batch.labels)


TRACKS: dict[str, str] = {
    "classification": "attrbench.tracks:ClassificationTrack",
    "embedding": "attrbench.embedding.track:EmbeddingTrack",
}

registry = Registry("tracks", TRACKS, base=Track)


def get_track(name: str) -> Track:
    return registry.get(name)()
