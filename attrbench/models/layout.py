"""Which models a run puts in channels-last memory by default (issue 17, the default run's cost).

Channels-last (NHWC) memory makes the convolutions of attrbench's own architectures faster on
CPUs and GPUs: IG on the shipped BagNet-17 at 97 px took 0.57x the time on the 2-core CPU
(docs/forward_batches.md, "Memory layout"). It is a default only for architectures defined here
(BagNets, the comparison networks, the embedding networks), which are known to run in either
layout: a user's model may ``view`` a convolution's output, which fails on channels-last tensors,
so it keeps the standard layout unless the run asks (``--channels-last``).
"""

from __future__ import annotations

from torch import nn

__all__ = ["channels_last_by_default"]


def channels_last_by_default(model: nn.Module) -> bool:
    """True when ``model`` (or the ``net`` it wraps, :class:`attrbench.models.ImageModel`) is one of attrbench's architectures."""
    from attrbench.models.bagnet import BagNet
    from attrbench.models.comparison import SmallResNet, SmallVGG
    from attrbench.models.embedding import EmbeddingNet

    net = getattr(model, "net", model)
    return isinstance(net, (BagNet, SmallResNet, SmallVGG, EmbeddingNet))
