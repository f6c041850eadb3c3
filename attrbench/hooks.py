"""Hook context managers: every hook attrbench registers is removed on exit, even on error.

Hook-based methods (own Grad-CAM, Grad-CAM++) read a layer's output during one forward pass.
Registering and removing by hand leaks hooks when an exception escapes between the two; a
``with`` block cannot (docs/architecture.md, Hooks).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import Tensor, nn

__all__ = ["capture_output", "hooks_of"]


@contextmanager
def capture_output(module: nn.Module) -> Iterator[list[Tensor]]:
    """Record every output of ``module`` during the ``with`` block.

    Args:
        module: the layer to observe.

    Yields:
        A list that receives the layer's output tensor once per call of ``module``; the tensors
        stay attached to the autograd graph, so gradients with respect to them can be taken.

    Raises:
        TypeError: the layer returned something other than a tensor (tuple outputs are ambiguous).
    """

    def hook(_module: nn.Module, _inputs: tuple, output: object) -> None:
        if not isinstance(output, Tensor):
            raise TypeError(f"layer {type(module).__name__} returned {type(output).__name__}, expected a tensor")
        store.append(output)

    store: list[Tensor] = []
    handle = module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def hooks_of(model: nn.Module) -> dict[str, int]:
    """Number of hooks still registered on ``model`` and its submodules, by kind (for tests).

    Counts forward, forward-pre, backward and backward-pre module hooks. An empty dict means the
    model is clean.
    """
    kinds = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    found: dict[str, int] = {}
    for name, sub in model.named_modules():
        for kind in kinds:
            n = len(getattr(sub, kind, {}))
            if n:
                found[f"{name or '<root>'}.{kind}"] = n
    return found
