"""Weight-transfer database: k-means, exact file round trip, transfer = the cluster's weights, no backward."""

from __future__ import annotations

import pytest
import torch

from attrbench.embedding.database import (
    WeightDatabase,
    build_database,
    class_mean_references,
    embed_dataset,
    kmeans,
)
from attrbench.errors import DataError
from attrbench.hooks import hooks_of
from attrbench.methods import get_method
from attrbench.methods.cam import cam_from_weights
from attrbench.testing.embedding import random_samples, tiny_embedding_net



CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def setup():
    model = tiny_embedding_net(seed=1)
    data = random_samples(12, num_classes=3, seed=2)
    layer = model.get_submodule(model.spec.cam_layer)
    db = build_database(model, data, layer=layer, device=CPU, rule="gradcam", n_triplets=3, num_clusters=4,
                        top_k=6, seed=0, batch_size=5)
    return model, data, db


def test_kmeans_separates_obvious_clusters_deterministically():
    pts = torch.tensor([[0.0, 0.0], [0.1, 0.0], [10.0, 10.0], [10.0, 10.1], [-10.0, 5.0]])
    c1, a1 = kmeans(pts, k=3, seed=3)
    c2, a2 = kmeans(pts, k=3, seed=3)
    assert torch.equal(a1, a2) and torch.equal(c1, c2)
    assert a1[0] == a1[1] and a1[2] == a1[3] and len({int(a1[0]), int(a1[2]), int(a1[4])}) == 3
    torch.testing.assert_close(c1[a1[0]], torch.tensor([0.05, 0.0]))
    with pytest.raises(ValueError, match="k=6 for 5 points"):
        kmeans(pts, k=6, seed=0)


def test_cluster_weights_are_member_means_and_top_k(setup):
    model, data, db = setup
    assert db.num_clusters == 4 and db.top_indices.shape == (4, 6)
    assert torch.bincount(db.assignments, minlength=4).min() >= 1
    # rebuild the per-image weights with the same seed and K = number of images (each its own cluster)
    layer = model.get_submodule(model.spec.cam_layer)
    solo = build_database(model, data, layer=layer, device=CPU, rule="gradcam", n_triplets=3, num_clusters=12,
                          top_k=None, seed=0, batch_size=5)
    per_image = solo.weights[solo.assignments]
    for c in range(4):
        torch.testing.assert_close(db.weights[c], per_image[db.assignments == c].mean(0), rtol=1e-10, atol=1e-12)
        assert set(db.top_indices[c].tolist()) == set(db.weights[c].topk(6).indices.tolist())
    sparse = db.sparse_weights()
    assert int((sparse != 0).sum()) == 4 * 6


def test_save_load_round_trip_is_exact(setup, tmp_path):
    _, _, db = setup
    path = db.save(tmp_path / "db.pt")
    back = WeightDatabase.load(path)
    for name in ("centroids", "weights", "top_indices", "assignments"):
        assert torch.equal(getattr(back, name), getattr(db, name)), name
        assert getattr(back, name).dtype == getattr(db, name).dtype
    assert back.meta == db.meta
    (tmp_path / "bad.pt").write_bytes(b"not a database")
    with pytest.raises(DataError, match="bad.pt"):
        WeightDatabase.load(tmp_path / "bad.pt")
    with pytest.raises(DataError, match="not found"):
        WeightDatabase.load(tmp_path / "missing.pt")


def test_training_image_gets_its_cluster_weights(setup):
    model, data, db = setup
    method = get_method("mlgradcam-transfer")(model, spec=model.spec, database=db)
    images = torch.stack([data[i].image for i in (0, 5, 7)])
    out = method(images, target=None)  # transfer ignores the target
    layer = model.get_submodule(model.spec.cam_layer)
    acts = []
    h = layer.register_forward_hook(lambda m, i, o: acts.append(o))
    try:
        with torch.no_grad():
            model(images)
    finally:
        h.remove()
    clusters = db.assignments[[0, 5, 7]]
    expected = cam_from_weights(acts[0], db.sparse_weights()[clusters])
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    emb, _ = embed_dataset(model, [data[i] for i in (0, 5, 7)], device=CPU)
    assert torch.equal(db.assign(emb), clusters)


def test_transfer_runs_no_backward(setup, monkeypatch):
    model, data, db = setup
    method = get_method("mlgradcam-transfer")(model, spec=model.spec, database=db)
    calls = []

    def forbidden(*args, **kwargs):
        calls.append(args)
        raise AssertionError("backward called during transfer inference")

    monkeypatch.setattr(torch.autograd, "backward", forbidden)
    monkeypatch.setattr(torch.autograd, "grad", forbidden)
    grad_modes = []
    h = model.register_forward_hook(lambda m, i, o: grad_modes.append(torch.is_grad_enabled()))
    try:
        x = torch.stack([s.image for s in data[:4]])
        out = method(x, target=None)
    finally:
        h.remove()
    assert grad_modes == [False] and not calls
    assert not out.requires_grad and out.grad_fn is None
    assert hooks_of(model) == {}


def test_transfer_refuses_a_database_of_another_rule(setup):
    model, _, db = setup
    with pytest.raises(ValueError, match="'gradcampp' database"):
        get_method("mlgradcampp-transfer")(model, spec=model.spec, database=db)
    with pytest.raises(TypeError, match="needs a weight database"):
        get_method("fastergradcam")(model, spec=model.spec)(torch.zeros(1, 3, 48, 48, dtype=torch.float64),
                                                            target=None)


def test_faster_gradcam_database_uses_similarity_weights(setup):
    model, data, _ = setup
    layer = model.get_submodule(model.spec.cam_layer)
    opts = get_method("fastergradcam").database_options()
    assert opts["num_clusters"] == 10 and opts["target"] == "similarity"
    db = build_database(model, data, layer=layer, device=CPU, **{**opts, "num_clusters": 3}, seed=0)
    out = get_method("fastergradcam")(model, spec=model.spec, database=db)(torch.stack([data[0].image]), target=None)
    assert out.shape == (1, 1, 5, 5) and torch.isfinite(out).all()


def test_class_mean_references_exclude_self():
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [3.0, 3.0], [5.0, 5.0]])
    labels = torch.tensor([0, 0, 0, 1])
    expected = torch.tensor([[1.5, 2.0], [2.0, 1.5], [0.5, 0.5], [5.0, 5.0]])
    torch.testing.assert_close(class_mean_references(emb, labels), expected)


@pytest.mark.parametrize(("rule", "target"), [("gradcam", "triplet"), ("gradcampp", "triplet"), ("gradcam", "similarity")])
def test_head_only_build_equals_the_full_model_build(setup, rule, target):
    model, data, _ = setup
    layer = model.get_submodule(model.spec.cam_layer)
    opts = dict(layer=layer, device=CPU, rule=rule, target=target, n_triplets=3, num_clusters=4, top_k=6, seed=0,
                batch_size=5)
    full = build_database(model, data, **opts)
    fast = build_database(model, data, head=model.net.embed, **opts)
    torch.testing.assert_close(fast.weights, full.weights, rtol=1e-10, atol=1e-12)
    assert torch.equal(fast.assignments, full.assignments) and torch.equal(fast.top_indices, full.top_indices)
