"""A loadable tiny model and dataset for end-to-end tests of run-consuming tools.

Both are addressable by ``module:attr`` strings, so a run made with them can be re-created from
its ``config.json`` alone (``attrbench check --method``, the report gallery):

    model="attrbench.testing.toy:tiny_model", dataset="attrbench.testing.toy:ToyImages"
"""

from __future__ import annotations

import dataclasses

import torch

from attrbench.api import Sample
from attrbench.models.common import ImageModel
from attrbench.testing.models import tiny_bagnet

__all__ = ["MODEL", "DATASET", "ToyImages", "tiny_model"]

MODEL = "attrbench.testing.toy:tiny_model"
DATASET = "attrbench.testing.toy:ToyImages"


def tiny_model() -> ImageModel:
    """Random-init float64 BagNet-9 (5 classes, width 4) on 32 x 32 inputs, named by its address."""
    model = tiny_bagnet(9, num_classes=5, width=4, seed=0, input_size=(32, 32))
    model.spec = dataclasses.replace(model.spec, name=MODEL, class_names=tuple(f"class{i}" for i in range(5)))
    return model


class ToyImages:
    """``n`` seeded uniform-noise 32 x 32 images, labels ``i % 5``, ids ``toy<i>``, centred square masks.

    Accepts the runner's dataset keywords (``split``, ``image_size``, ``root``) and ignores them.
    """

    name = DATASET
    has_masks = True
    has_bboxes = True

    def __init__(self, *, split: str = "test", image_size: object = None, root: object = None, n: int = 6) -> None:
        gen = torch.Generator().manual_seed(1)
        mask = torch.zeros(1, 32, 32)
        mask[:, 8:24, 8:24] = 1.0
        self.samples = [
            Sample(image=torch.rand(3, 32, 32, generator=gen), label=i % 5, id=f"toy{i}", mask=mask,
                   bbox=(8.0, 8.0, 16.0, 16.0))
            for i in range(n)
        ]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> Sample:
        return self.samples[i]
