"""A tiny embedding model and a dataset whose samples depend on the class split, both addressable
by name, so that an embedding-track run can be re-opened from its ``config.json`` alone.

:class:`SplitImages` names each sample after the ``classes`` option it was built with
(``"<classes>/<i>"``): a consumer that builds the dataset without the track's
``dataset_kwargs`` sees other ids and other images than the run did.
"""

from __future__ import annotations

import torch

from attrbench.api import ModelSpec, Sample
from attrbench.models.common import ImageModel
from attrbench.models.embedding import EmbeddingNet
from attrbench.testing.models import seeded

__all__ = ["EMBED_MODEL", "SPLIT_DATASET", "SplitImages", "tiny_embedding_model"]

EMBED_MODEL = "attrbench.testing.split_toys:tiny_embedding_model"
SPLIT_DATASET = "attrbench.testing.split_toys:SplitImages"


def tiny_embedding_model() -> ImageModel:
    """A seeded float64 BagNet-9 :class:`EmbeddingNet` (width 4, 8-D output) on 32 x 32 inputs."""
    net = seeded(lambda: EmbeddingNet(backbone="bagnet9", width=4, layers=(1, 1, 1, 1), dim=8), 0)
    spec = ModelSpec(name=EMBED_MODEL, kind="embedding", input_size=(32, 32), num_outputs=8,
                     cam_layer="net." + net.cam_layer)  # fmt: skip
    return ImageModel(net, spec=spec).to(torch.float64).eval()


class SplitImages:
    """Six seeded 32 x 32 images, labels ``i % 2``, centred masks; images and ids depend on ``classes``.

    Accepts the runner's dataset keywords (``split``, ``image_size``, ``root``) and ignores them.
    """

    def __init__(self, *, classes: str = "all", split: str = "test", image_size: object = None,
                 root: object = None) -> None:  # fmt: skip
        gen = torch.Generator().manual_seed(len(classes))  # another split, other images
        mask = torch.zeros(1, 32, 32)
        mask[:, 8:24, 8:24] = 1.0
        self.classes = classes
        self.samples = [Sample(image=torch.rand(3, 32, 32, generator=gen), label=i % 2, id=f"{classes}/{i}",
                               mask=mask, bbox=(8.0, 8.0, 16.0, 16.0)) for i in range(6)]  # fmt: skip

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> Sample:
        return self.samples[i]
