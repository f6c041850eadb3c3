"""ML Grad-CAM / Grad-CAM++ on a tiny float64 embedding net: identities and hand-checkable cases."""

from __future__ import annotations

import pytest
import torch
from captum.attr import LayerGradCam

from attrbench.embedding.cam import keep_top_k
from attrbench.embedding.targets import CosineSimilarity, TripletLoss, sample_triplets, triplet_loss
from attrbench.hooks import hooks_of
from attrbench.methods import get_method
from attrbench.methods.gradcam import gradcam_weights
from attrbench.methods.gradcampp import gradcampp_weights
from attrbench.testing.embedding import tiny_embedding_net



TOL = {"rtol": 1e-10, "atol": 1e-12}


def _setup(batch: int = 3, n: int = 4, seed: int = 0):
    model = tiny_embedding_net(seed=seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, 48, 48, generator=gen, dtype=torch.float64)
    refs = torch.nn.functional.normalize(torch.randn(batch, n, 2, 8, generator=gen, dtype=torch.float64), dim=-1)
    return model, x, refs[:, :, 0], refs[:, :, 1]


def test_one_triplet_all_channels_equals_captum_layer_gradcam():
    model, x, pos, neg = _setup(n=1)
    target = TripletLoss(pos[:, 0], neg[:, 0], margin=0.5, hinge=False)
    method = get_method("mlgradcam")(model, spec=model.spec, n_triplets=1, top_k=None)
    ours = method(x, target=target)
    layer = model.get_submodule(model.spec.cam_layer)
    ref = LayerGradCam(target.forward_func(model), layer).attribute(
        inputs=x, additional_forward_args=target.per_sample, relu_attributions=False
    )
    assert ours.shape == (3, 1, 5, 5)
    torch.testing.assert_close(ours, ref, **TOL)
    assert ours.abs().max() > 0
    assert hooks_of(model) == {}


@pytest.mark.parametrize("name", ["mlgradcam", "mlgradcampp"])
def test_n_triplets_average_the_single_triplet_weights(name):
    model, x, pos, neg = _setup(n=4)
    cls = get_method(name)
    full = cls(model, spec=model.spec, n_triplets=4, top_k=None)(x, target=TripletLoss(pos, neg, hinge=False))
    singles = [
        cls(model, spec=model.spec, n_triplets=1, top_k=None)(x, target=TripletLoss(pos[:, i], neg[:, i], hinge=False))
        for i in range(4)
    ]
    # the CAM is linear in the weights, so the map of averaged weights is the mean of the maps
    torch.testing.assert_close(full, torch.stack(singles).mean(0), **TOL)


def test_first_n_triplets_are_used():
    model, x, pos, neg = _setup(n=4)
    method = get_method("mlgradcam")(model, spec=model.spec, n_triplets=2, top_k=None)
    a = method(x, target=TripletLoss(pos, neg, hinge=False))
    b = method(x, target=TripletLoss(pos[:, :2], neg[:, :2], hinge=False))
    torch.testing.assert_close(a, b, **TOL)
    with pytest.raises(ValueError, match="n_triplets=5"):
        get_method("mlgradcam")(model, spec=model.spec, n_triplets=5)(x, target=TripletLoss(pos, neg))


def test_explain_loss_is_minus_negative_loss_for_gradcam_whatever_the_target_sign():
    model, x, pos, neg = _setup(n=2)
    down = get_method("mlgradcam")(model, spec=model.spec, n_triplets=2, top_k=None, explain="negative_loss")
    up = get_method("mlgradcam")(model, spec=model.spec, n_triplets=2, top_k=None, explain="loss")
    for sign in ("descent", "ascent"):  # the method's option decides, not the target's sign
        target = TripletLoss(pos, neg, sign=sign, hinge=False)
        torch.testing.assert_close(up(x, target=target), -down(x, target=target), **TOL)


def test_satisfied_triplets_with_hinge_give_zero_maps():
    model, x, _, _ = _setup(n=1)
    with torch.no_grad():
        e = model(x)
    # positive = the anchor itself, negative = its antipode: L = 0 - 4 + m < 0 -> hinge inactive
    target = TripletLoss(e, -e, margin=0.2, hinge=True)
    out = get_method("mlgradcam")(model, spec=model.spec, n_triplets=1, top_k=None)(x, target=target)
    assert torch.count_nonzero(out) == 0


def test_top_k_keeps_largest_signed_weights_of_the_average():
    model, x, pos, neg = _setup(n=3)
    layer = model.get_submodule(model.spec.cam_layer)
    target = TripletLoss(pos, neg, hinge=False)
    out = get_method("mlgradcam")(model, spec=model.spec, n_triplets=3, top_k=5)(x, target=target)
    # rebuild by hand: per-triplet gradients via separate backward passes
    weights = []
    for i in range(3):
        acts = []
        h = layer.register_forward_hook(lambda m, inp, o: acts.append(o))
        try:
            s = TripletLoss(pos[:, i], neg[:, i], hinge=False).score(model(x)).sum()
        finally:
            h.remove()
        (g,) = torch.autograd.grad(s, acts[0])
        weights.append(g.mean((2, 3)))
    w = torch.stack(weights).mean(0)
    top = w.topk(5, dim=1).indices
    expected = torch.einsum("bk,bkhw->bhw", w.gather(1, top), acts[0].detach().gather(
        1, top[:, :, None, None].expand(-1, -1, *acts[0].shape[2:]))).unsqueeze(1)
    torch.testing.assert_close(out, expected, **TOL)


def test_keep_top_k_hand_example():
    w = torch.tensor([[0.5, -2.0, 1.0, 0.1], [-1.0, -0.5, -3.0, 2.0]])
    torch.testing.assert_close(keep_top_k(w, 2), torch.tensor([[0.5, 0.0, 1.0, 0.0], [0.0, -0.5, 0.0, 2.0]]))
    assert keep_top_k(w, None) is w
    assert keep_top_k(w, 9) is w


def test_gradcampp_eq19_by_hand():
    # one channel, 2 positions: A = [1, 3] (sum 4), g = [0.5, -1] and a channel with g = 0
    acts = torch.tensor([[[[1.0, 3.0]], [[2.0, 2.0]]]], dtype=torch.float64)
    grads = torch.tensor([[[[0.5, -1.0]], [[0.0, 0.0]]]], dtype=torch.float64)
    # alpha_1 = 0.25 / (0.5 + 4 * 0.125) = 0.25; w = 0.25 * 0.5 + alpha_2 * ReLU(-1) = 0.125
    torch.testing.assert_close(gradcampp_weights(acts, grads), torch.tensor([[0.125, 0.0]], dtype=torch.float64))
    torch.testing.assert_close(gradcam_weights(acts, grads), torch.tensor([[-0.25, 0.0]], dtype=torch.float64))


def test_triplet_loss_closed_form():
    a = torch.tensor([[1.0, 0.0]])
    p = torch.tensor([[0.0, 1.0]])  # ||a - p||^2 = 2
    n = torch.tensor([[-1.0, 0.0]])  # ||a - n||^2 = 4
    torch.testing.assert_close(triplet_loss(a, p, n, margin=0.5, hinge=False), torch.tensor([-1.5]))
    torch.testing.assert_close(triplet_loss(a, p, n, margin=0.5), torch.tensor([0.0]))
    t = TripletLoss(p, n, margin=2.5)
    torch.testing.assert_close(t.score(a), torch.tensor([-0.5]))  # descent: -L, L = 0.5
    torch.testing.assert_close(TripletLoss(p, n, margin=2.5, sign="ascent").score(a), torch.tensor([0.5]))


def test_similarity_target_carries_its_triplets_through_subset():
    ref = torch.eye(3)
    trip = TripletLoss(torch.eye(3), -torch.eye(3))
    t = CosineSimilarity(ref, triplets=trip)
    sub = t.subset(torch.tensor([2, 0]))
    torch.testing.assert_close(sub.triplets.positive, torch.eye(3)[[2, 0]])
    torch.testing.assert_close(sub.score(torch.eye(3)[[2, 0]]), torch.ones(2))


def test_sample_triplets_classes_and_self_exclusion():
    labels = torch.tensor([0, 0, 1, 1, 2])
    pos, neg = sample_triplets(labels, anchors=torch.tensor([0, 2, 4]), anchor_labels=torch.tensor([0, 1, 2]) * 0
                               + torch.tensor([0, 1, 0]), n=20, generator=torch.Generator().manual_seed(0))
    assert torch.all(pos[0] == 1) and torch.all(pos[1] == 3)
    assert set(pos[2].tolist()) == {0, 1}  # anchor 4 labelled 0 here: positives are the class-0 items
    assert torch.all(labels[neg[0]] != 0) and torch.all(labels[neg[1]] != 1)
    with pytest.raises(ValueError, match="class 2 has 0 other images"):
        sample_triplets(labels, anchors=torch.tensor([4]), anchor_labels=torch.tensor([2]), n=1,
                        generator=torch.Generator().manual_seed(0))


def test_triplet_methods_refuse_a_plain_similarity_target():
    model, x, pos, _ = _setup(n=1)
    with pytest.raises(TypeError, match="triplet loss"):
        get_method("mlgradcam")(model, spec=model.spec)(x, target=CosineSimilarity(pos[:, 0]))


@pytest.mark.parametrize(("ours", "plain"), [("mlgradcam", "gradcam"), ("mlgradcampp", "gradcampp")])
def test_one_triplet_equals_the_projects_plain_cam(ours, plain):
    model, x, pos, neg = _setup(n=1)
    target = TripletLoss(pos[:, 0], neg[:, 0], margin=0.3, hinge=False)
    a = get_method(ours)(model, spec=model.spec, n_triplets=1, top_k=None)(x, target=target)
    b = get_method(plain)(model, spec=model.spec)(x, target=target)
    torch.testing.assert_close(a, b, **TOL)
