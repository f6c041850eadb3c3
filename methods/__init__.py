"""Attribution methods: one file each. ``METHODS`` is the only registration (name -> "module:Class")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from attrbench.errors import OptionTypeError
from attrbench.registry import Registry

if TYPE_CHECKING:
    from attrbench.api import AttributionMethod

METHODS: dict[str, str] = {
    "saliency": "attrbench.methods.saliency:Saliency",
    "inputxgradient": "attrbench.methods.inputxgradient:InputXGradient",
    "ig": "attrbench.methods.ig:IntegratedGradients",
    "deeplift": "attrbench.methods.deeplift:DeepLift",
    "deepliftshap": "attrbench.methods.deepliftshap:DeepLiftShap",
    "gradientshap": "attrbench.methods.gradientshap:GradientShap",
    "smoothgrad": "attrbench.methods.smoothgrad:SmoothGrad",
    "vargrad": "attrbench.methods.vargrad:VarGrad",
    "guidedbackprop": "attrbench.methods.guidedbackprop:GuidedBackprop",
    "deconvolution": "attrbench.methods.deconvolution:Deconvolution",
    "occlusion": "attrbench.methods.occlusion:Occlusion",
    "gradcam": "attrbench.methods.gradcam:GradCam",
    "guidedgradcam": "attrbench.methods.guidedgradcam:GuidedGradCam",
    "gradcampp": "attrbench.methods.gradcampp:GradCamPlusPlus",
    # reference rows
    "random": "attrbench.methods.random_noise:RandomAttribution",
    "sobel": "attrbench.methods.sobel:Sobel",
    "oracle": "attrbench.methods.oracle:Oracle",
    # metric-learning track: these live in attrbench.embedding, which imports attrbench.methods (never the
    # reverse); the registry imports them by name on first use only.
    "mlgradcam": "attrbench.embedding.mlgradcam:MLGradCAM",
    "mlgradcam-transfer": "attrbench.embedding.mlgradcam:MLGradCAMTransfer",
    "mlgradcampp": "attrbench.embedding.mlgradcampp:MLGradCAMpp",
    "mlgradcampp-transfer": "attrbench.embedding.mlgradcampp:MLGradCAMppTransfer",
    "fastergradcam": "attrbench.embedding.fastergradcam:FasterGradCAM",
    "embeddingcam": "attrbench.embedding.embeddingcam:ProxyGradCAM",
}

registry = Registry("methods", METHODS)


def list_methods(pattern: str | None = None) -> list[str]:
    """Registered method names (built-in and entry points), optionally filtered by a glob."""
    return registry.names(pattern)


def get_method(name: str) -> type[AttributionMethod]:
    """The method class for a name or an external ``"pkg.module:Class"``."""
    from attrbench.api import AttributionMethod  # here, not at the top: listing names needs no torch

    cls = registry.get(name)
    if not (isinstance(cls, type) and issubclass(cls, AttributionMethod)):
        raise OptionTypeError(f"{name!r} resolves to {cls!r}, which is not a subclass of AttributionMethod")
    return cls


__all__ = ["METHODS", "get_method", "list_methods", "registry"]
