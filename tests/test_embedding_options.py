"""Issue 16 options of the metric-learning CAMs (top_k_by, explain) and the class-proxy family
(ClassProxy target, EmbeddingCAM): hand examples and float64 identities on tiny nets."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from attrbench.embedding.cam import keep_top_k, top_k_indices
from attrbench.embedding.database import WeightDatabase
from attrbench.embedding.targets import ClassProxy, CosineSimilarity, TripletLoss, class_proxies
from attrbench.errors import OptionError, OptionTypeError
from attrbench.methods import get_method
from attrbench.targets import ClassLogit
from attrbench.testing.embedding import tiny_embedding_net
from attrbench.testing.models import tiny_bagnet

TOL = {"rtol": 1e-10, "atol": 1e-12}


def _setup(batch: int = 3, n: int = 3, seed: int = 1):
    model = tiny_embedding_net(seed=seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, 48, 48, generator=gen, dtype=torch.float64)
    refs = F.normalize(torch.randn(batch, n, 2, 8, generator=gen, dtype=torch.float64), dim=-1)
    return model, x, refs[:, :, 0], refs[:, :, 1]


def test_keep_top_k_by_magnitude_hand_example():
    w = torch.tensor([[0.5, -2.0, 1.0, 0.1], [-1.0, -0.5, -3.0, 2.0]])
    torch.testing.assert_close(keep_top_k(w, 2, by="magnitude"),
                               torch.tensor([[0.0, -2.0, 1.0, 0.0], [0.0, 0.0, -3.0, 2.0]]))
    torch.testing.assert_close(keep_top_k(w, 2, by="signed"),
                               torch.tensor([[0.5, 0.0, 1.0, 0.0], [0.0, -0.5, 0.0, 2.0]]))
    assert top_k_indices(w, 1, by="magnitude").tolist() == [[1], [2]]
    with pytest.raises(OptionError, match="top_k_by"):
        keep_top_k(w, 2, by="abs")


def _manual_weights(model, x, pos, neg, *, factor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-triplet Grad-CAM weights by separate backward passes of factor * L (no hinge), averaged."""
    layer = model.get_submodule(model.spec.cam_layer)
    weights = []
    for i in range(pos.shape[1]):
        acts = []
        h = layer.register_forward_hook(lambda m, inp, o: acts.append(o))
        try:
            e = model(x)
        finally:
            h.remove()
        loss = (e - pos[:, i]).pow(2).sum(-1) - (e - neg[:, i]).pow(2).sum(-1) + 0.2
        (g,) = torch.autograd.grad((factor * loss).sum(), acts[0])
        weights.append(g.mean((2, 3)))
    return acts[0].detach(), torch.stack(weights).mean(0)


@pytest.mark.parametrize("explain,factor", [("negative_loss", -1.0), ("loss", 1.0)])
@pytest.mark.parametrize("by", ["signed", "magnitude"])
def test_mlgradcam_options_match_a_hand_rebuild(explain, factor, by):
    model, x, pos, neg = _setup()
    out = get_method("mlgradcam")(model, spec=model.spec, n_triplets=3, top_k=4, top_k_by=by, explain=explain)(
        x, target=TripletLoss(pos, neg, margin=0.2, hinge=False))
    acts, w = _manual_weights(model, x, pos, neg, factor=factor)
    key = w.abs() if by == "magnitude" else w
    keep = torch.zeros_like(w, dtype=torch.bool).scatter(1, key.topk(4, dim=1).indices, True)
    expected = (torch.where(keep, w, 0.0)[:, :, None, None] * acts).sum(1, keepdim=True)
    torch.testing.assert_close(out, expected, **TOL)


def test_magnitude_and_signed_top_k_differ_when_weights_are_negative():
    model, x, pos, neg = _setup()
    target = TripletLoss(pos, neg, hinge=False)
    kw = dict(spec=model.spec, n_triplets=3, top_k=2)
    signed = get_method("mlgradcam")(model, top_k_by="signed", **kw)(x, target=target)
    magnitude = get_method("mlgradcam")(model, top_k_by="magnitude", **kw)(x, target=target)
    assert not torch.allclose(signed, magnitude)


def test_option_errors_name_the_option():
    model = tiny_embedding_net()
    with pytest.raises(OptionError, match="explain"):
        get_method("mlgradcam")(model, spec=model.spec, explain="gain")
    with pytest.raises(OptionError, match="top_k_by"):
        get_method("mlgradcam-transfer")(model, spec=model.spec, top_k_by="abs")


def test_database_top_k_by_magnitude_hand_example():
    emb = torch.tensor([[0.0, 0.0], [0.0, 0.1], [10.0, 0.0], [10.0, 0.1]], dtype=torch.float64)
    w = torch.tensor([[1.0, -4.0, 2.0], [1.0, -4.0, 2.0], [-3.0, 0.5, 1.0], [-3.0, 0.5, 1.0]], dtype=torch.float64)
    for by, expect in (("signed", [{0, 2}, {1, 2}]), ("magnitude", [{1, 2}, {0, 2}])):
        db = WeightDatabase.from_image_weights(embeddings=emb, image_weights=w, num_clusters=2, top_k=2, seed=0,
                                               top_k_by=by)
        first = int(db.assign(emb[:1]))  # the cluster of the first two points
        got = [set(db.top_indices[first].tolist()), set(db.top_indices[1 - first].tolist())]
        assert got == expect


def test_class_proxies_are_normalised_class_means():
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, -2.0], [3.0, 6.0]], dtype=torch.float64)
    labels = torch.tensor([5, 5, 2, 2])
    classes, proxies = class_proxies(emb, labels)
    assert classes.tolist() == [2, 5]
    torch.testing.assert_close(proxies, torch.tensor([[0.6, 0.8], [0.5**0.5, 0.5**0.5]], dtype=torch.float64))


def test_class_proxy_score_is_cosine_to_the_class_mean_for_unit_embeddings():
    gen = torch.Generator().manual_seed(0)
    out = F.normalize(torch.randn(4, 6, generator=gen, dtype=torch.float64), dim=1)
    mean = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    target = ClassProxy(F.normalize(mean, dim=1))
    torch.testing.assert_close(target.score(out), F.cosine_similarity(out, mean, dim=1), **TOL)
    torch.testing.assert_close(target.subset(slice(1, 3)).score(out[1:3]), target.score(out)[1:3], **TOL)


def test_embeddingcam_with_one_hot_proxies_is_gradcam_of_the_class_logit():
    # the paper's reduction: a classifier's logits as the "embedding" and one-hot proxies
    model = tiny_bagnet(num_classes=5)
    x = torch.rand(3, 3, 48, 48, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    labels = torch.tensor([0, 3, 4])
    proxy = ClassProxy(F.one_hot(labels, 5).to(torch.float64))
    ours = get_method("embeddingcam")(model, spec=model.spec)(x, target=proxy)
    ref = get_method("gradcam")(model, spec=model.spec)(x, target=ClassLogit(labels))
    torch.testing.assert_close(ours, ref, **TOL)
    assert ours.abs().max() > 0


def test_embeddingcam_uses_the_proxy_carried_by_the_similarity_target():
    model, x, pos, neg = _setup()
    proxy = ClassProxy(F.normalize(pos[:, 0] + pos[:, 1], dim=1))
    method = get_method("embeddingcam")(model, spec=model.spec)
    carried = method(x, target=CosineSimilarity(neg[:, 0], proxy=proxy))
    torch.testing.assert_close(carried, method(x, target=proxy), **TOL)
    with pytest.raises(OptionTypeError, match="class proxy"):
        method(x, target=CosineSimilarity(neg[:, 0]))
