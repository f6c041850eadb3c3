"""Models: BagNets (exact official architecture), embedding networks, and the model zoo."""

from __future__ import annotations

from attrbench.models.bagnet import BagNet, ReceptiveField, bagnet9, bagnet17, bagnet33
from attrbench.models.common import ImageModel
from attrbench.models.zoo import CheckpointError, list_models, load_checkpoint, load_model, save_checkpoint

__all__ = [
    "BagNet",
    "CheckpointError",
    "ImageModel",
    "ReceptiveField",
    "bagnet9",
    "bagnet17",
    "bagnet33",
    "list_models",
    "load_checkpoint",
    "load_model",
    "save_checkpoint",
]
