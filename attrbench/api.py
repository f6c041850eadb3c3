"""The public face of extension: every contract a new method, metric, track, dataset or model implements.

Defined here: the data types (:class:`Sample`, :class:`Batch`), :class:`ModelSpec`,
:class:`Target` and its kinds, :class:`AttributionMethod` with :class:`MethodInfo`, and
:class:`MetricInfo`. Re-exported (defined beside the code that runs them, imported lazily so that
this module stays light and free of import cycles): :class:`Metric`, :class:`MetricContext`,
:class:`MetricResult`, :class:`Curve` (``attrbench.metrics.base``), :class:`Track`
(``attrbench.tracks``), :class:`ImageModel` (``attrbench.models.common``) and
:class:`ImageDataset` (``attrbench.datasets.base``).

Data flows one way (README, "How the code is laid out"; docs/architecture.md):

    Dataset -> Sample -> Batch (on device) -> model -> Target (one scalar per sample)
    -> AttributionMethod -> raw attribution -> postprocess -> map (B, 1, H, W)
    -> Metric -> values per sample -> Records

Everything a run needs to know about a model travels in :class:`ModelSpec`; everything about a
method in :class:`MethodInfo`; everything about a metric in :class:`MetricInfo`. These are frozen
class-level metadata, never guessed at run time.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from attrbench.targets import ClassLogit, ClassProbability, FunctionTarget, Target

if TYPE_CHECKING:
    from attrbench.datasets.base import ImageDataset
    from attrbench.metrics.base import Curve, Metric, MetricContext, MetricResult
    from attrbench.models.common import ImageModel
    from attrbench.tracks import Track

__all__ = [
    "AttributionMethod",
    "Batch",
    "ClassLogit",
    "ClassProbability",
    "Curve",
    "FunctionTarget",
    "ImageDataset",
    "ImageModel",
    "MethodInfo",
    "Metric",
    "MetricCategory",
    "MetricContext",
    "MetricInfo",
    "MetricResult",
    "ModelSpec",
    "Resolution",
    "Sample",
    "Target",
    "Track",
    "collate",
]

#: contracts defined beside the code that runs them: name -> defining module (loaded on first use).
_REEXPORTS: dict[str, str] = {
    "Curve": "attrbench.metrics.base",
    "ImageDataset": "attrbench.datasets.base",
    "ImageModel": "attrbench.models.common",
    "Metric": "attrbench.metrics.base",
    "MetricContext": "attrbench.metrics.base",
    "MetricResult": "attrbench.metrics.base",
    "Track": "attrbench.tracks",
}


def __getattr__(name: str) -> Any:
    if name in _REEXPORTS:
        import importlib

        return vars(importlib.import_module(_REEXPORTS[name]))[name]
    raise AttributeError(f"module 'attrbench.api' has no attribute {name!r}")


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    """One image with whatever truth the dataset has.

    Attributes:
        image: (3, H, W) float32 in [0, 1], RGB.
        label: class index (0-based).
        id: stable identifier, unique within the dataset (used for resuming and records).
        mask: (1, H, W) float32 in [0, 1] (soft object mask) or None.
        bbox: (x, y, w, h) in pixels of ``image`` (top-left corner) or None.
        parts: (P, 3) float32 rows (x, y, visible) in pixels of ``image``, or None.
    """

    image: Tensor
    label: int
    id: str
    mask: Tensor | None = None
    bbox: tuple[float, float, float, float] | None = None
    parts: Tensor | None = None


@dataclass
class Batch:
    """A stack of samples on one device.

    Attributes:
        images: (B, 3, H, W).
        labels: (B,) int64.
        ids: B identifiers.
        masks: (B, 1, H, W) or None if any sample lacks a mask.
        bboxes: (B, 4) as (x, y, w, h) or None if any sample lacks a box.
        parts: (B, P, 3) or None.
    """

    images: Tensor
    labels: Tensor
    ids: list[str]
    masks: Tensor | None = None
    bboxes: Tensor | None = None
    parts: Tensor | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def to(self, device: torch.device) -> Batch:
        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device)

        return Batch(
            images=self.images.to(device),
            labels=self.labels.to(device),
            ids=list(self.ids),
            masks=move(self.masks),
            bboxes=move(self.bboxes),
            parts=move(self.parts),
        )


def collate(samples: list[Sample]) -> Batch:
    """Stack samples into a :class:`Batch` (usable as a DataLoader ``collate_fn``)."""
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    shapes = {tuple(s.image.shape) for s in samples}
    if len(shapes) != 1:
        raise ValueError(
            f"images in one batch must share a shape, got {sorted(shapes)}; "
            "give the dataset an image_size so that it resizes them"
        )
    masks = None
    if all(s.mask is not None for s in samples):
        masks = torch.stack([s.mask for s in samples])  # type: ignore[misc]
    bboxes = None
    if all(s.bbox is not None for s in samples):
        bboxes = torch.tensor([s.bbox for s in samples], dtype=torch.float32)
    parts = None
    if all(s.parts is not None for s in samples):
        parts = torch.stack([s.parts for s in samples])  # type: ignore[misc]
    return Batch(
        images=torch.stack([s.image for s in samples]),
        labels=torch.tensor([s.label for s in samples], dtype=torch.long),
        ids=[s.id for s in samples],
        masks=masks,
        bboxes=bboxes,
        parts=parts,
    )


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    """What a run must know about a model; never guessed.

    The model itself takes images in [0, 1] (normalisation lives inside it, see
    :class:`attrbench.models.common.ImageModel`), so baselines and fill values are in pixel space.

    Attributes:
        name: registry name or ``module:factory`` string.
        kind: "classifier" (output (B, num_classes) logits) or "embedding" (output (B, D)).
        input_size: (H, W) the model was trained at.
        num_outputs: number of classes (classifier) or embedding dimension.
        mean, std: per-channel normalisation applied inside the model.
        cam_layer: dotted module path (relative to the model) for CAM methods.
        cam_layers: further layers at which CAM methods may be scored.
        receptive_field: q of a BagNet (patch side in pixels), None for models without ground truth.
        rf_stride: stride of the patch grid in pixels (8 for BagNets).
        class_names: optional names of the outputs.
    """

    name: str
    kind: str = "classifier"
    input_size: tuple[int, int] = (224, 224)
    num_outputs: int = 1000
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    cam_layer: str | None = None
    cam_layers: tuple[str, ...] = ()
    receptive_field: int | None = None
    rf_stride: int = 8
    class_names: tuple[str, ...] = ()

    @property
    def has_ground_truth(self) -> bool:
        return self.receptive_field is not None


# --------------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------------
class Resolution(str, enum.Enum):
    """Where a method's raw attribution lives."""

    INPUT = "input"  # (B, C, H, W), same as the inputs
    LAYER = "layer"  # (B, 1, h, w) at the CAM layer's resolution
    PATCH = "patch"  # (B, 1, H', W') on a BagNet's patch grid


@dataclass(frozen=True)
class MethodInfo:
    """Class-level metadata of an attribution method.

    Attributes:
        name: registry name.
        paper: short reference, e.g. "Sundararajan et al., ICML 2017, arXiv 1703.01365".
        resolution: where the raw attribution lives.
        needs_layer: uses ``spec.cam_layer``.
        needs_baseline: explains f(x) - f(b) for a baseline b (compare with baseline truth).
        needs_ground_truth: only for models with ground truth (the oracle).
        stochastic: uses random numbers (seeded by the runner).
        reference: a reference row (random, edge, oracle), not an attribution method.
        track: the one track the method works on (e.g. "embedding" for triplet-based CAMs), or
            None: any track (the method explains whatever target the track gives).
        needs_weight_database: takes ``database=``, a weight-transfer database the embedding
            track builds for it (:meth:`attrbench.embedding.track.EmbeddingTrack.method_kwargs`).
        postprocess: the post-processing preset the method is scored with unless the run sets
            one (:func:`attrbench.postprocess.preset_for`); None: "signed".
    """

    name: str
    paper: str
    resolution: Resolution = Resolution.INPUT
    needs_layer: bool = False
    needs_baseline: bool = False
    needs_ground_truth: bool = False
    stochastic: bool = False
    reference: bool = False
    track: str | None = None
    needs_weight_database: bool = False
    postprocess: str | None = None


class AttributionMethod(ABC):
    """An attribution method bound to one model.

    Subclasses set ``info`` and implement :meth:`attribute`. Hyperparameters are keyword-only
    constructor arguments with defaults. A method returns *raw* attributions; it never applies
    ReLU, normalisation or upsampling (that is :mod:`attrbench.postprocess`).

    Call as ``method(inputs, target=target)``:
        inputs: (B, 3, H, W) images in [0, 1] on the model's device.
        target: :class:`Target` with B samples.
        returns: (B, C, H, W) for input-resolution methods, (B, 1, h, w) otherwise.
    """

    info: ClassVar[MethodInfo]
    #: the pixel fill value b of a method with ``info.needs_baseline`` (it explains f(x) - f(b));
    #: such a method sets it in its constructor. None for methods without a baseline.
    baseline: float | None = None
    #: the hooked module (dotted path) of a layer method such as a CAM, which sets it in its
    #: constructor; None for other methods. Its maps are placed on the image by this layer's geometry.
    layer: str | None = None

    def __init__(self, model: nn.Module, *, spec: ModelSpec) -> None:
        self.model = model
        self.spec = spec

    @abstractmethod
    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        """Raw attribution for a batch; see the class docstring for shapes."""

    def __call__(self, inputs: Tensor, *, target: Target) -> Tensor:
        if inputs.ndim != 4:
            raise ValueError(f"inputs must be (B, C, H, W), got shape {tuple(inputs.shape)}")
        return self.attribute(inputs, target=target)

    @property
    def config(self) -> dict:
        """Hyperparameters for the run config (public attributes that are plain values)."""
        out = {}
        for key, value in vars(self).items():
            if key.startswith("_") or key in ("model", "spec"):
                continue
            if isinstance(value, (int, float, str, bool, type(None), tuple, list)):
                out[key] = value
        return out


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------
class MetricCategory(str, enum.Enum):
    GROUND_TRUTH = "ground_truth"
    FAITHFULNESS = "faithfulness"
    LOCALISATION = "localisation"
    RANDOMISATION = "randomisation"
    COST = "cost"


@dataclass(frozen=True)
class MetricInfo:
    """Class-level metadata of a metric.

    Attributes:
        name: registry name (also the ``metric`` column of records, possibly with a suffix).
        category: what it measures.
        needs_ground_truth: needs a model with patch ground truth.
        needs_mask: needs object masks; needs_bbox: needs boxes.
        needs_model: re-evaluates the model (deletion curves, randomisation).
        reference: paper or convention it follows.

    The direction of each value is declared per output name (``Metric.outputs``).
    """

    name: str
    category: MetricCategory
    needs_ground_truth: bool = False
    needs_mask: bool = False
    needs_bbox: bool = False
    needs_model: bool = False
    reference: str = ""
