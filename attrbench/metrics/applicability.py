"""Whether a metric applies to a model and a dataset: decided here, once, for every consumer.

The runner (through :class:`attrbench.context.RunContext`) and the leaderboard ask the same
question with the same answer: a metric that needs patch ground truth needs a BagNet with patch
logits; one that needs object masks or boxes needs a dataset that has them. What a dataset has
is what it declares (:attr:`ImageDataset.has_masks` / ``has_bboxes``); a plain sequence of
samples is judged by its first sample.
"""

from __future__ import annotations

from typing import Any

from attrbench.api import MetricInfo, Sample
from attrbench.models.common import ImageModel

__all__ = ["DataTruth", "data_truth", "inapplicable"]


class DataTruth:
    """What truth a dataset carries besides labels.

    Attributes:
        masks: every sample has an object mask.
        bboxes: every sample has a bounding box.
    """

    def __init__(self, *, masks: bool, bboxes: bool) -> None:
        self.masks, self.bboxes = masks, bboxes


def data_truth(dataset: Any) -> DataTruth:
    """The truth ``dataset`` declares (an :class:`ImageDataset`), else what its first loading sample carries."""
    from attrbench.datasets.base import ImageDataset

    if isinstance(dataset, ImageDataset):
        return DataTruth(masks=dataset.has_masks, bboxes=dataset.has_bboxes)
    from attrbench.datasets.isolation import first_loading

    first: Sample | None = first_loading(dataset, limit=len(dataset))[1] if len(dataset) else None  # skips bad files
    return DataTruth(masks=first is not None and first.mask is not None, bboxes=first is not None and first.bbox is not None)


def inapplicable(info: MetricInfo, *, model: ImageModel | None, truth: DataTruth, dataset_name: str) -> str | None:
    """Why the metric ``info`` cannot be scored here, or None if it can.

    Args:
        info: the metric's metadata.
        model: the model, or None to judge the data only.
        truth: what the dataset carries (:func:`data_truth`).
        dataset_name: named in the message.
    """
    if info.needs_ground_truth and model is not None and not (model.spec.has_ground_truth and model.has_patch_logits):
        return f"metric {info.name!r} needs a model with patch ground truth (a BagNet); model {model.spec.name!r} has none"
    if info.needs_mask and not truth.masks:
        return f"metric {info.name!r} needs object masks; dataset {dataset_name!r} has none"
    if info.needs_bbox and not truth.bboxes:
        return f"metric {info.name!r} needs bounding boxes; dataset {dataset_name!r} has none"
    return None
