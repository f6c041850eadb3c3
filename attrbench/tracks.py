"""Tracks: what a run explains. A track turns a batch into a :class:`Target` and prepares
whatever its methods need (e.g. a weight-transfer database for the embedding track).

    classification (default): Target = ClassLogit(labels) on a classifier.
    embedding: Target from an embedding network (see attrbench.embedding.track).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch

from attrbench.api import AttributionMethod, Batch, ClassLogit, Target
from attrbench.errors import DataError
from attrbench.models.common import ImageModel
from attrbench.registry import Registry

__all__ = ["ClassificationTrack", "TRACKS", "Track", "check_method_track", "get_track"]


def check_method_track(method_cls: type[AttributionMethod], track: str) -> None:
    """Raise :class:`DataError` if ``method_cls`` declares another track than ``track`` (``MethodInfo.track``)."""
    declared = method_cls.info.track
    if declared is not None and declared != track:
        raise DataError(f"method {method_cls.info.name!r} explains the {declared} track; run it with --track {declared}"
                        f" (this run's track is {track!r})")


class Track(ABC):
    """What a run explains and how.

    Lifecycle (:class:`attrbench.context.RunContext`): the dataset is built with
    ``dataset_kwargs``; ``prepare`` runs once per run, then each method is built once with
    ``method_kwargs`` (constructor arguments for methods that need track resources), and
    ``make_target`` runs per batch.

    Attributes:
        name: registry name.
        default_model, default_dataset: what a run uses when its config names none (the one place
            where the default model is declared).
        default_metrics: metric specs run when the config names none (those that apply).
        dataset_kwargs: dataset constructor options the track's protocol needs (e.g. unseen classes).
    """

    name: ClassVar[str]
    default_model: ClassVar[str]
    default_dataset: ClassVar[str]
    default_metrics: ClassVar[tuple[str, ...]]
    dataset_kwargs: ClassVar[dict[str, Any]] = {}

    def prepare(self, *, model: ImageModel, dataset: Any, device: torch.device, seed: int) -> None:
        """Build per-run resources (default: nothing)."""

    @abstractmethod
    def make_target(self, *, model: ImageModel, batch: Batch) -> Target:
        """The target for one batch (already on the device)."""

    def method_kwargs(self, method_cls: type[AttributionMethod]) -> dict[str, Any]:
        """Extra constructor arguments for ``method_cls``, called after :meth:`prepare` (default: none).

        Raises:
            DataError: the method declares another track (``MethodInfo.track``).
        """
        check_method_track(method_cls, self.name)
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
