"""Oracle: the exact BagNet patch contributions, an upper-bound reference row.

    A(x)_p = (l_{p,c}(x) - b_c) / N,   (B, 1, H', W') on the patch grid,

from :func:`attrbench.ground_truth.patch_truth` with no baseline (Brendel & Bethge, ICLR 2019,
arXiv 1904.00760). Needs a model with patch logits and a class target (``ClassLogit``).
"""

from __future__ import annotations

from torch import Tensor, nn

from attrbench.api import AttributionMethod, ClassLogit, ClassProbability, MethodInfo, ModelSpec, Resolution, Target
from attrbench.errors import OptionTypeError
from attrbench.ground_truth import patch_truth
from attrbench.models.common import ImageModel

__all__ = ["Oracle"]


class Oracle(AttributionMethod):
    """Ground-truth patch contributions of the target class logit."""

    info = MethodInfo(
        name="oracle",
        paper="Brendel & Bethge, ICLR 2019, arXiv 1904.00760 (exact patch logits)",
        resolution=Resolution.PATCH,
        needs_ground_truth=True,
        reference=True,
    )

    def __init__(self, model: nn.Module, *, spec: ModelSpec) -> None:
        super().__init__(model, spec=spec)
        if not spec.has_ground_truth or not (isinstance(model, ImageModel) and model.has_patch_logits):
            raise OptionTypeError(
                f"the oracle needs a model with patch ground truth (a BagNet ImageModel); "
                f"model {spec.name!r} has none"
            )

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        """(B, 3, H, W) -> (B, 1, H', W')."""
        if not isinstance(target, ClassLogit) or isinstance(target, ClassProbability):
            raise OptionTypeError(
                f"the oracle explains a class logit and needs a ClassLogit target with labels; got {target!r}"
            )
        truth = patch_truth(self.model, inputs, labels=target.labels, baseline=None)  # type: ignore[arg-type]
        return truth.unsqueeze(1)
