"""Inputs for the method contract test (``tests/test_methods_contract.py``) and the references.

Every registered method is checked on a small float64 case. Methods explaining a class logit of
a classifier (the default) get :func:`classification_case`: ``tiny_bagnet(q=9)``, 32 x 32 images,
5 classes, ``ClassLogit``. Methods of other tracks name their case factory in
:data:`CASE_FACTORIES` (one line each, like the registries).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from attrbench.api import AttributionMethod, ClassLogit, Target
from attrbench.registry import import_object
from attrbench.testing.models import tiny_bagnet

__all__ = ["CASE_FACTORIES", "ContractCase", "classification_case", "contract_case", "embedding_case"]


@dataclass
class ContractCase:
    """A model, a batch and a target on which a method must satisfy the contract.

    Attributes:
        model: eval-mode float64 model with ``.spec``.
        inputs: (B, 3, H, W) images in [0, 1].
        target: B-sample target.
        kwargs: extra constructor arguments (small sample counts keep the test fast).
    """

    model: nn.Module
    inputs: Tensor
    target: Target
    kwargs: dict[str, Any] = field(default_factory=dict)

    def build(self, cls: type[AttributionMethod], **overrides: Any) -> AttributionMethod:
        return cls(self.model, spec=self.model.spec, **{**self.kwargs, **overrides})  # type: ignore[arg-type]


#: constructor arguments that keep the sampling methods fast in the contract test.
FAST_KWARGS: dict[str, dict[str, Any]] = {
    "ig": {"n_steps": 8},
    "deepliftshap": {"n_baselines": 3},
    "gradientshap": {"n_samples": 4},
    "smoothgrad": {"nt_samples": 4},
    "vargrad": {"nt_samples": 4},
}


def _images(batch: int, size: int, seed: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, size, size, generator=gen, dtype=torch.float64)


def classification_case(name: str, cls: type[AttributionMethod], *, batch: int = 3, seed: int = 0) -> ContractCase:
    """tiny BagNet-9 (5 classes, width 4), 32 x 32 float64 images (3 x 3 patch grid), ClassLogit(0, 1, 2, ...)."""
    model = tiny_bagnet(9, num_classes=5, seed=seed)
    labels = torch.arange(batch) % 5
    return ContractCase(model, _images(batch, 32, seed + 1), ClassLogit(labels), dict(FAST_KWARGS.get(name, {})))


def embedding_case(name: str, cls: type[AttributionMethod], *, batch: int = 3, seed: int = 0) -> ContractCase:
    """tiny embedding net; the embedding track's target form (a similarity carrying 2 triplets and a
    class proxy); transfer methods get a small database."""
    from attrbench.embedding.database import build_database
    from attrbench.embedding.targets import ClassProxy, CosineSimilarity, TripletLoss
    from attrbench.testing.embedding import random_samples, tiny_embedding_net

    model = tiny_embedding_net(seed=seed)
    gen = torch.Generator().manual_seed(seed + 2)
    dim = model.spec.num_outputs
    refs = nn.functional.normalize(torch.randn(batch, 2, 2, dim, generator=gen, dtype=torch.float64), dim=-1)
    triplets = TripletLoss(refs[:, :, 0], refs[:, :, 1], hinge=False)
    target = CosineSimilarity(refs[:, 0, 0], triplets=triplets, proxy=ClassProxy(refs[:, 1, 0]))
    kwargs: dict[str, Any] = {}
    if hasattr(cls, "database_options"):
        options = cls.database_options()  # type: ignore[attr-defined]
        options.update(n_triplets=2, num_clusters=3, top_k=4)
        layer = model.get_submodule(model.spec.cam_layer)
        data = random_samples(9, num_classes=3, seed=seed + 3)
        kwargs["database"] = build_database(model, data, layer=layer, device=torch.device("cpu"), seed=seed,
                                            **options)
    elif name in ("mlgradcam", "mlgradcampp"):
        kwargs.update(n_triplets=2, top_k=None)
    return ContractCase(model, _images(batch, 48, seed + 1), target, kwargs)


#: method name -> "module:factory" for methods that do not explain a classifier's class logit.
CASE_FACTORIES: dict[str, str] = {
    "mlgradcam": "attrbench.testing.contract:embedding_case",
    "mlgradcam-transfer": "attrbench.testing.contract:embedding_case",
    "mlgradcampp": "attrbench.testing.contract:embedding_case",
    "mlgradcampp-transfer": "attrbench.testing.contract:embedding_case",
    "fastergradcam": "attrbench.testing.contract:embedding_case",
    "embeddingcam": "attrbench.testing.contract:embedding_case",
}


def contract_case(name: str, cls: type[AttributionMethod], *, batch: int = 3, seed: int = 0) -> ContractCase:
    """The contract case for method ``name`` (its factory, or the classification case)."""
    factory: Callable[..., ContractCase] = (
        import_object(CASE_FACTORIES[name]) if name in CASE_FACTORIES else classification_case
    )
    return factory(name, cls, batch=batch, seed=seed)
