"""Grad-CAM machinery for embedding networks (Chen, Chen, Hajimirsadeghi, Mori, WACV 2020,
arXiv 2001.06538), shared by the ``mlgradcam*`` and ``fastergradcam`` methods and the database.

For an anchor image with CAM-layer activations A (C, h, w) and N reference triplets,
g_n = dT_n/dA is the gradient of the signed triplet loss T_n (see :mod:`.targets`). Per triplet,
channel weights are

    Grad-CAM:    w_nk = (1 / hw) sum_ij g_nkij                                      (Selvaraju et al.)
    Grad-CAM++:  w_nk = sum_ij alpha_nkij ReLU(g_nkij),
                 alpha = g^2 / (2 g^2 + (sum_ab A_kab) g^3), alpha = 0 where g = 0   (eq. 19)

then averaged over the triplets, w_k = (1/N) sum_n w_nk, and optionally restricted to the top-k
channels (``top_k_by``: "signed", the k largest w_k, as Faster-Grad-CAM's code does, or
"magnitude", the k largest |w_k|; see :data:`TOP_K_RULES`). Which direction of the loss is
explained is ``explain`` (:data:`EXPLAIN`): "negative_loss" differentiates -T (evidence that makes
the anchor match its positive better than its negative; the default, argued in docs/methods.md),
"loss" differentiates +T. Both rules are the classification methods' own functions
(:func:`attrbench.methods.gradcam.gradcam_weights`, :func:`attrbench.methods.gradcampp.gradcampp_weights`).
The raw map is sum_k w_k A_k at layer resolution (:func:`attrbench.methods.cam.cam_from_weights`);
ReLU, normalisation and upsampling are :mod:`attrbench.postprocess`'s job.

N gradients cost one backbone forward: a forward hook on the CAM layer hands the rest of the
network ``A`` repeated N times (detached, so the backward only runs through the layers after A).
This needs the layers after the CAM layer to treat samples independently (true for the embedding
head: mean-pool, linear, L2 normalisation; BatchNorm in eval mode).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import torch
from torch import Tensor, nn

from attrbench.api import Target
from attrbench.embedding.targets import TripletLoss, triplet_loss
from attrbench.methods.common import check_choice
from attrbench.methods.gradcam import gradcam_weights
from attrbench.methods.gradcampp import gradcampp_weights

__all__ = [
    "EXPLAIN",
    "TOP_K_RULES",
    "WEIGHT_RULES",
    "keep_top_k",
    "layer_gradients",
    "repeated_layer",
    "target_channel_weights",
    "top_k_indices",
    "triplet_channel_weights",
]

WeightRule = Literal["gradcam", "gradcampp"]

#: the per-image channel-weight rules, by name (the formulas are the classification methods' own).
WEIGHT_RULES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "gradcam": gradcam_weights,
    "gradcampp": gradcampp_weights,
}


#: how the top-k channels are chosen: by signed weight (largest w_k) or by magnitude (largest |w_k|).
TOP_K_RULES: tuple[str, ...] = ("signed", "magnitude")
#: which direction of the triplet loss T a back-propagated map explains: -T (default) or +T.
EXPLAIN: tuple[str, ...] = ("negative_loss", "loss")


def top_k_indices(weights: Tensor, k: int, *, by: str = "signed") -> Tensor:
    """Indices of the k channels kept per row: (B, C) -> (B, k), by signed value or by magnitude."""
    if k < 1:
        raise ValueError(f"top_k must be positive or None, got {k}")
    key = weights.abs() if check_choice("top_k_by", by, TOP_K_RULES) == "magnitude" else weights
    return key.topk(min(k, weights.shape[-1]), dim=-1).indices


def keep_top_k(weights: Tensor, k: int | None, *, by: str = "signed") -> Tensor:
    """Zero all but k weights per row, chosen by ``by`` (:data:`TOP_K_RULES`): (B, C) -> (B, C).

    The kept weights keep their sign; k None (or k >= C) keeps all.
    """
    check_choice("top_k_by", by, TOP_K_RULES)
    if k is None or k >= weights.shape[-1]:
        return weights
    index = top_k_indices(weights, k, by=by)
    return torch.zeros_like(weights).scatter(-1, index, weights.gather(-1, index))


@contextmanager
def repeated_layer(module: nn.Module, *, repeats: int) -> Iterator[dict[str, Tensor]]:
    """Capture a layer's output A and feed the rest of the network A repeated ``repeats`` times.

    Yields a dict filled by the forward: ``"activations"`` (B, C, h, w) (detached) and
    ``"repeated"`` (B * repeats, C, h, w), sample-major, a grad-requiring leaf when grad is on.
    The hook is removed on exit, also after an error.
    """
    store: dict[str, Tensor] = {}

    def hook(_module: nn.Module, _inputs: tuple, output: Tensor) -> Tensor:
        if not torch.is_tensor(output):
            raise TypeError(f"CAM layer must output a tensor, got {type(output).__name__}")
        acts = output.detach()
        store["activations"] = acts
        rep = acts.repeat_interleave(repeats, dim=0) if repeats > 1 else acts.clone()
        if torch.is_grad_enabled():
            rep.requires_grad_(True)
        store["repeated"] = rep
        return rep

    handle = module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def layer_gradients(
    model: nn.Module,
    inputs: Tensor,
    *,
    layer: nn.Module,
    scores: Callable[[Tensor], Tensor],
    repeats: int = 1,
) -> tuple[Tensor, Tensor]:
    """Activations and per-copy gradients of ``scores`` at ``layer``.

    Args:
        model: maps (B, 3, H, W) to outputs; the layers after ``layer`` must be per-sample.
        inputs: (B, 3, H, W).
        layer: the CAM layer module.
        scores: maps the model output for the repeated batch, (B * repeats, ...), to
            (B * repeats,) scalars, one per copy (sample-major: copy n of sample b at b * repeats + n).
        repeats: copies of A per sample (N triplets).

    Returns:
        A (B, C, h, w) and dScore/dA (B, repeats, C, h, w), both detached.
    """
    with torch.enable_grad(), repeated_layer(layer, repeats=repeats) as store:
        output = model(inputs)
        if "repeated" not in store:
            raise RuntimeError("the CAM layer was not called in the model's forward")
        values = scores(output)
        if values.shape != (inputs.shape[0] * repeats,):
            raise ValueError(f"scores must be ({inputs.shape[0] * repeats},), got {tuple(values.shape)}")
        (grads,) = torch.autograd.grad(values.sum(), store["repeated"])
    acts = store["activations"]
    return acts, grads.view(acts.shape[0], repeats, *acts.shape[1:])


def triplet_channel_weights(
    model: nn.Module,
    inputs: Tensor,
    *,
    layer: nn.Module,
    target: TripletLoss,
    rule: WeightRule,
    n_triplets: int | None = None,
    explain: str | None = None,
) -> tuple[Tensor, Tensor]:
    """Per-triplet channel weights of the signed triplet loss, one backbone forward.

    Args:
        model: embedding model, (B, 3, H, W) -> (B, D).
        inputs: (B, 3, H, W) anchors.
        layer: CAM layer module.
        target: :class:`TripletLoss` with (B, N, D) or (B, D) references.
        rule: "gradcam" or "gradcampp".
        n_triplets: use the first n of the target's triplets (default all).
        explain: "negative_loss" (differentiate -T) or "loss" (+T), with the target's margin and
            hinge; None follows the target's own ``sign`` ("descent" is -T).

    Returns:
        A (B, C, h, w) and weights (B, n, C).
    """
    if rule not in WEIGHT_RULES:
        raise ValueError(f"rule must be one of {sorted(WEIGHT_RULES)}, got {rule!r}")
    positive, negative = target.per_sample
    if positive.ndim == 2:
        positive, negative = positive.unsqueeze(1), negative.unsqueeze(1)
    available = positive.shape[1]
    n = available if n_triplets is None else n_triplets
    if not 1 <= n <= available:
        raise ValueError(f"n_triplets={n_triplets} but the target holds {available} triplets per sample")
    positive, negative = positive[:, :n], negative[:, :n]
    batch = inputs.shape[0]

    if explain is None:
        def scores(output: Tensor) -> Tensor:
            return target.per_triplet(output.view(batch, n, -1), positive, negative).reshape(-1)
    else:
        factor = -1.0 if check_choice("explain", explain, EXPLAIN) == "negative_loss" else 1.0

        def scores(output: Tensor) -> Tensor:
            loss = triplet_loss(output.view(batch, n, -1), positive, negative, margin=target.margin,
                                hinge=target.hinge)
            return (factor * loss).reshape(-1)

    acts, grads = layer_gradients(model, inputs, layer=layer, scores=scores, repeats=n)
    flat_grads = grads.reshape(batch * n, *acts.shape[1:])
    # Grad-CAM ignores the activations: skip materialising N copies of A for it.
    flat_acts = acts.repeat_interleave(n, dim=0) if rule == "gradcampp" else flat_grads
    weights = WEIGHT_RULES[rule](flat_acts, flat_grads).view(batch, n, -1)
    return acts, weights


def target_channel_weights(
    model: nn.Module,
    inputs: Tensor,
    *,
    layer: nn.Module,
    target: Target,
    rule: WeightRule,
    explain: str = "negative_loss",
) -> tuple[Tensor, Tensor]:
    """Channel weights of any per-sample target (Faster-Grad-CAM's per-image weights).

    The target is a score s (a similarity: the loss it stands for falls as s rises), so
    ``explain="negative_loss"`` differentiates s and ``"loss"`` differentiates -s.

    Returns A (B, C, h, w) and weights (B, C).
    """
    if rule not in WEIGHT_RULES:
        raise ValueError(f"rule must be one of {sorted(WEIGHT_RULES)}, got {rule!r}")
    factor = 1.0 if check_choice("explain", explain, EXPLAIN) == "negative_loss" else -1.0
    acts, grads = layer_gradients(model, inputs, layer=layer, scores=lambda out: factor * target.score(out),
                                  repeats=1)
    return acts, WEIGHT_RULES[rule](acts, grads[:, 0])
