"""Post-processing: the named, recorded steps between a raw attribution and a (B, 1, H, W) map.

Methods return raw attributions (docs/methods.md); the same "Grad-CAM" differs between libraries
only here. The steps, in order:

1. ``reduce``: channels -> one map (applied to (B, C, h, w); a (B, 1, h, w) map goes through the
   same formula, so e.g. "sum_abs" takes |.| of a single-channel map):
       "sum"      sum_c a_c            (signed; default)
       "abs_sum"  |sum_c a_c|
       "sum_abs"  sum_c |a_c|
       "l2"       sqrt(sum_c a_c^2)
       "max_abs"  max_c |a_c|           (Simonyan et al.'s saliency map)
2. ``relu``: max(m, 0) if set (Grad-CAM's ReLU).
3. ``normalise`` per sample, over the map's pixels (eps keeps zero-range maps finite):
       "none"
       "minmax"   (m - min) / (max - min + eps)     a constant map becomes 0, never NaN
       "max_abs"  m / (max |m| + eps)
       "sum"      m / (sum |m| + eps)                the absolute mass sums to 1
4. resize to the input size (``__call__`` only):
       patch-grid maps: :func:`attrbench.geometry.place` with the BagNet geometry (each patch value
       spread evenly over its receptive field; totals are preserved, so values are per-pixel densities);
       layer-resolution maps: ``upsample`` = "geometry" (default) places them by the layer's
       receptive-field geometry with the same rule (the ``geometry`` argument, from
       :func:`attrbench.geometry.layer_geometry`; a map on the BagNet patch grid uses the patch
       geometry; when neither is known the map is stretched bilinearly), so a map gets the same
       pixels whatever resolution it declares; "centre" puts each value (patch maps too) on the
       stride x stride block at its receptive field's centre instead (for CNNs whose theoretical
       receptive fields span the image); "bilinear" (align_corners=False) or "nearest" stretch
       layer maps over the image instead;
       input-resolution maps are already at size.

Presets that match practice: "signed" (sum over channels, sign kept: the reduction under which
Integrated Gradients' completeness holds, Sundararajan et al., ICML 2017) and "magnitude"
(max over channels of the absolute value: Simonyan et al.'s saliency map, ICLR-W 2014, sec. 3.1).
Presets reproducing libraries' defaults: "raw" (the same as "signed"), "captum" (the same: Captum
returns raw attributions and upsamples with ``LayerAttribution.interpolate``), "pytorch-grad-cam"
(ReLU + min-max, eps 1e-7, ``scale_cam_image``), "torchcam" (ReLU + min-max, eps 1e-8).

Per-method defaults: a method declares the preset it is scored with in
``MethodInfo.postprocess`` (e.g. ``saliency`` -> "magnitude"); methods that declare none use
:data:`DEFAULT_PRESET` ("signed"). A run's ``postprocess`` option (``--postprocess``) overrides
the declared presets for every method; :func:`preset_for` is the one rule, and the run records the
preset each method used (``config.json``, ``method_config[label]["postprocess"]``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from attrbench.api import MethodInfo, Resolution
from attrbench.errors import OptionError, OptionTypeError
from attrbench.geometry import Geometry, place
from attrbench.models.bagnet import ReceptiveField

__all__ = [
    "DEFAULT_PRESET",
    "NORMALISATIONS",
    "PRESETS",
    "PostProcess",
    "REDUCTIONS",
    "UPSAMPLINGS",
    "get_preset",
    "preset_for",
]

REDUCTIONS: tuple[str, ...] = ("sum", "abs_sum", "sum_abs", "l2", "max_abs")
NORMALISATIONS: tuple[str, ...] = ("none", "minmax", "max_abs", "sum")
UPSAMPLINGS: tuple[str, ...] = ("geometry", "centre", "bilinear", "nearest")


@dataclass(frozen=True)
class PostProcess:
    """Channel reduction, ReLU, normalisation and upsampling (module docstring).

    Attributes:
        reduce: channel reduction, one of :data:`REDUCTIONS`.
        relu: clamp negative values to 0 after the reduction.
        normalise: per-sample normalisation, one of :data:`NORMALISATIONS`.
        upsample: placement of layer-resolution maps, one of :data:`UPSAMPLINGS`.
        eps: added to the denominators of the normalisations (> 0).
    """

    reduce: str = "sum"
    relu: bool = False
    normalise: str = "none"
    upsample: str = "geometry"
    eps: float = 1e-8

    def __post_init__(self) -> None:
        for name, value, choices in (
            ("reduce", self.reduce, REDUCTIONS),
            ("normalise", self.normalise, NORMALISATIONS),
            ("upsample", self.upsample, UPSAMPLINGS),
        ):
            if value not in choices:
                raise OptionError(f"PostProcess.{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
        if not isinstance(self.relu, bool):
            raise OptionTypeError(f"PostProcess.relu must be a bool, got {self.relu!r}")
        if isinstance(self.eps, bool) or not isinstance(self.eps, (int, float)) or not self.eps > 0:
            raise OptionError(f"PostProcess.eps must be a positive number, got {self.eps!r}")

    # ----------------------------------------------------------------------------------------
    def reduce_map(self, raw: Tensor) -> Tensor:
        """Channel reduction, ReLU and normalisation, no resize: (B, C, h, w) -> (B, 1, h, w)."""
        if raw.ndim != 4:
            raise ValueError(f"raw attribution must be (B, C, h, w), got shape {tuple(raw.shape)}")
        if self.reduce == "sum":
            m = raw.sum(dim=1, keepdim=True)
        elif self.reduce == "abs_sum":
            m = raw.sum(dim=1, keepdim=True).abs()
        elif self.reduce == "sum_abs":
            m = raw.abs().sum(dim=1, keepdim=True)
        elif self.reduce == "l2":
            m = raw.pow(2).sum(dim=1, keepdim=True).sqrt()
        else:  # "max_abs"
            m = raw.abs().amax(dim=1, keepdim=True)
        if self.relu:
            m = m.clamp_min(0)
        return self._normalised(m)

    def _normalised(self, m: Tensor) -> Tensor:
        if self.normalise == "none":
            return m
        flat = m.flatten(1)
        if self.normalise == "minmax":
            lo = flat.amin(dim=1).view(-1, 1, 1, 1)
            hi = flat.amax(dim=1).view(-1, 1, 1, 1)
            return (m - lo) / (hi - lo + self.eps)
        if self.normalise == "max_abs":
            return m / (flat.abs().amax(dim=1).view(-1, 1, 1, 1) + self.eps)
        return m / (flat.abs().sum(dim=1).view(-1, 1, 1, 1) + self.eps)  # "sum"

    def resize(
        self,
        m: Tensor,
        *,
        size: tuple[int, int],
        info: MethodInfo,
        rf: ReceptiveField | None,
        geometry: Geometry | None = None,
    ) -> Tensor:
        """Bring a (B, 1, h, w) map to ``size`` according to the method's resolution (module docstring)."""
        size = (int(size[0]), int(size[1]))
        if info.resolution is Resolution.PATCH:
            if rf is None:
                raise OptionError(f"method {info.name!r} returns a patch-grid map; resizing it needs rf (receptive field)")
            geometry = Geometry.of(rf)
        else:
            if tuple(m.shape[-2:]) == size and (geometry is None or geometry.size == 1):
                return m
            if info.resolution is Resolution.INPUT:
                raise ValueError(
                    f"method {info.name!r} declares input resolution but returned {tuple(m.shape[-2:])}, not {size}"
                )
            if geometry is None and rf is not None and tuple(m.shape[-2:]) == rf.grid(*size):
                geometry = Geometry.of(rf)
        if geometry is not None and self.upsample in ("geometry", "centre"):
            return place(m, geometry=geometry if self.upsample == "geometry" else geometry.centred(), size=size)
        if info.resolution is Resolution.PATCH:
            return place(m, geometry=geometry, size=size)  # type: ignore[arg-type]
        if self.upsample == "nearest":
            return F.interpolate(m, size=size, mode="nearest")
        # "bilinear", or a geometry mode whose layer geometry the caller did not pass: stretch
        return F.interpolate(m, size=size, mode="bilinear", align_corners=False)

    def __call__(
        self,
        raw: Tensor,
        *,
        size: tuple[int, int],
        info: MethodInfo,
        rf: ReceptiveField | None = None,
        geometry: Geometry | None = None,
    ) -> Tensor:
        """Raw attribution -> map (B, 1, H, W) at ``size`` = (H, W).

        Args:
            raw: (B, C, H, W) input-resolution, (B, 1, h, w) layer or (B, 1, H', W') patch map.
            size: input (H, W).
            info: the method's metadata (its resolution decides the resize).
            rf: receptive field; needed for patch-grid maps.
            geometry: the layer's receptive-field geometry for layer maps (``upsample="geometry"``).
        """
        return self.resize(self.reduce_map(raw), size=size, info=info, rf=rf, geometry=geometry)

    # ----------------------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        """Plain dict for the run config and records."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PostProcess:
        """Inverse of :meth:`as_dict`; unknown keys are an error (a typo must not pass silently)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise OptionError(f"unknown post-processing keys {unknown}; expected a subset of {sorted(fields)}")
        return cls(**data)


#: named presets (library defaults, docs/methods.md).
PRESETS: dict[str, PostProcess] = {
    "signed": PostProcess(reduce="sum"),
    "magnitude": PostProcess(reduce="max_abs"),
    "raw": PostProcess(),
    "captum": PostProcess(),
    "pytorch-grad-cam": PostProcess(relu=True, normalise="minmax", eps=1e-7),
    "torchcam": PostProcess(relu=True, normalise="minmax", eps=1e-8),
}


def get_preset(name: str) -> PostProcess:
    """A preset by name; unknown names suggest the closest ones."""
    if name in PRESETS:
        return PRESETS[name]
    import difflib

    from attrbench.registry import UnknownNameError

    close = difflib.get_close_matches(name, list(PRESETS), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownNameError(f"Unknown post-processing preset {name!r}.{hint} Available: {', '.join(PRESETS)}.")


#: the preset of a method whose info declares none.
DEFAULT_PRESET = "signed"


def preset_for(info: MethodInfo, *, override: Any = None) -> tuple[str, PostProcess]:
    """The post-processing of a method: (preset name or "custom", PostProcess object).

    Args:
        info: the method's metadata; ``info.postprocess`` is its declared preset (None: "signed").
        override: the run's ``postprocess`` option: None (each method its declared preset), a preset
            name, or a PostProcess object ("custom").

    Raises:
        UnknownNameError: an unknown preset name (the override's or the method's declaration).
    """
    if override is None:
        name = info.postprocess or DEFAULT_PRESET
        return name, get_preset(name)
    if isinstance(override, str):
        return override, get_preset(override)
    return "custom", override
