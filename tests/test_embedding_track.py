"""Embedding track: targets, triplets, database caching, and a run through the harness."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from attrbench.api import collate
from attrbench.embedding.targets import CosineSimilarity
from attrbench.embedding.track import EmbeddingTrack, training_dataset_for
from attrbench.errors import DataError
from attrbench.methods import get_method
from attrbench.testing.embedding import random_samples, tiny_embedding_net



CPU = torch.device("cpu")


def _prepared(tmp_path, seed=0):
    model = tiny_embedding_net(seed=3)
    pool = random_samples(9, num_classes=3, seed=4)
    train = random_samples(12, num_classes=4, seed=5)
    track = EmbeddingTrack(cache_dir=tmp_path, train_dataset=train)
    track.prepare(model=model, dataset=pool, device=CPU, seed=seed)
    return model, pool, track


def test_target_is_similarity_to_other_same_class_mean(tmp_path):
    model, pool, track = _prepared(tmp_path)
    batch = collate([pool[i] for i in (4, 0)])
    target = track.make_target(model=model, batch=batch)
    assert isinstance(target, CosineSimilarity)
    with torch.no_grad():
        emb = model(torch.stack([s.image for s in pool]))
    # sample 4 has label 1; the other class-1 samples are 1 and 7
    ref4 = (emb[1] + emb[7]) / 2
    torch.testing.assert_close(target.reference[0], ref4, rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        scores = target.score(model(batch.images))
    torch.testing.assert_close(scores[0], torch.nn.functional.cosine_similarity(emb[4], ref4, dim=0), rtol=1e-12,
                               atol=1e-12)
    trip = target.triplets
    assert trip.positive.shape == (2, 50, 8)
    # positives are embeddings of same-class pool items other than the anchor, negatives of other classes
    same = {4: [1, 7], 0: [3, 6]}
    for row, sample in ((0, 4), (1, 0)):
        d_pos = torch.cdist(trip.positive[row], emb[same[sample]]).min(1).values
        assert d_pos.max() < 1e-6  # cdist is exact only to ~1e-8
        other = [i for i in range(9) if pool[i].label != pool[sample].label]
        assert torch.cdist(trip.negative[row], emb[other]).min(1).values.max() < 1e-6


def test_unknown_sample_id_is_a_data_error(tmp_path):
    model, pool, track = _prepared(tmp_path)
    stranger = dataclasses.replace(pool[0], id="nope")
    with pytest.raises(DataError, match="'nope'"):
        track.make_target(model=model, batch=collate([stranger]))


def test_transfer_database_built_once_then_cached(tmp_path):
    model, pool, track = _prepared(tmp_path)
    cls = get_method("mlgradcam-transfer")
    assert track.method_kwargs(get_method("mlgradcam")) == {}
    db1 = cls(model, spec=model.spec, **track.method_kwargs(cls)).database
    info = track.database_info["gradcam/triplet/K50"]
    assert track.database_info["shared_features"]["num_images"] == 12
    assert info["cached"] is False and info["build_seconds"] > 0 and info["num_images"] == 12
    # K = 50 asked, 12 training images: one cluster per image, the request kept in meta
    assert db1.num_clusters == 12 and db1.meta["num_clusters_requested"] == cls.num_clusters == 50
    # a fresh track with the same model, data and seed loads the same file
    _, _, track2 = _prepared(tmp_path)
    db2 = cls(model, spec=model.spec, **track2.method_kwargs(cls)).database
    (info2,) = track2.database_info.values()  # loaded from the cache: no shared pass
    assert info2["cached"] is True and info2["path"] == info["path"]
    assert torch.equal(db1.weights, db2.weights) and torch.equal(db1.centroids, db2.centroids)


def test_each_option_set_gets_its_own_transfer_database(tmp_path):
    model, pool, track = _prepared(tmp_path)
    cls = get_method("mlgradcam-transfer")
    plain = cls(model, spec=model.spec, **track.method_kwargs(cls)).database
    flipped = cls(model, spec=model.spec, explain="loss", **track.method_kwargs(cls)).database
    magnitude = cls(model, spec=model.spec, top_k_by="magnitude", **track.method_kwargs(cls)).database
    assert set(track.database_info) >= {"gradcam/triplet/K50", "gradcam/triplet/K50/signed/loss",
                                        "gradcam/triplet/K50/magnitude/negative_loss"}
    # Grad-CAM weights are linear in the gradient: +L gives exactly minus the -L cluster weights
    torch.testing.assert_close(flipped.weights, -plain.weights)
    assert torch.equal(magnitude.weights, plain.weights)
    assert torch.equal(magnitude.top_indices, plain.weights.abs().topk(magnitude.top_indices.shape[1], dim=1).indices)
    with pytest.raises(ValueError, match="explain='loss'"):
        cls(model, spec=model.spec, database=plain, explain="loss")


def test_training_dataset_needs_the_unseen_class_protocol():
    with pytest.raises(DataError, match="has no 'root'"):
        training_dataset_for(random_samples(2, num_classes=2))


def test_mlgradcam_runs_through_the_harness(tmp_path, monkeypatch):
    from attrbench.runner import evaluate

    monkeypatch.setenv("ATTRBENCH_CACHE", str(tmp_path / "cache"))
    model = tiny_embedding_net(seed=3)
    pool = []
    for s in random_samples(8, num_classes=2, seed=6):
        mask = torch.zeros(1, 48, 48, dtype=torch.float64)
        mask[:, 10:30, 12:40] = 1.0
        pool.append(dataclasses.replace(s, mask=mask, bbox=(12.0, 10.0, 28.0, 20.0)))
    records = evaluate(methods=["mlgradcam[n_triplets=5]"], model=model, dataset=pool, track="embedding",
                       metrics=["localisation"], n_samples=2, batch_size=2, out=tmp_path / "run",
                       postprocess="pytorch-grad-cam")
    ok = records[records["status"] == "ok"]
    assert set(ok["method"]) == {"mlgradcam[n_triplets=5]"}
    energy = ok[ok["metric"] == "loc_energy_mask"]["value"]
    assert len(energy) == 2 and energy.between(0, 1).all()


def test_new_variants_run_through_the_harness_placed_by_layer_geometry(tmp_path, monkeypatch):
    from attrbench.context import RunContext
    from attrbench.geometry import layer_geometry
    from attrbench.runner import evaluate
    from attrbench.runspec import RunConfig

    monkeypatch.setenv("ATTRBENCH_CACHE", str(tmp_path / "cache"))
    model = tiny_embedding_net(seed=3)
    pool = []
    for s in random_samples(8, num_classes=2, seed=6):
        mask = torch.zeros(1, 48, 48, dtype=torch.float64)
        mask[:, 10:30, 12:40] = 1.0
        pool.append(dataclasses.replace(s, mask=mask, bbox=(12.0, 10.0, 28.0, 20.0)))
    specs = ["mlgradcam[n_triplets=5,top_k=4,top_k_by=magnitude,explain=loss]", "embeddingcam"]
    ctx = RunContext.open(RunConfig(methods=specs, track="embedding", metrics=[], n_samples=2,
                                    postprocess="pytorch-grad-cam"), model=model, dataset=pool)
    expected = layer_geometry(model, model.spec.cam_layer, input_size=(48, 48))
    assert expected.stride > 1  # a real placement, not a stretch
    assert [m.geometry for m in ctx.methods] == [expected, expected]
    records = evaluate(methods=specs, model=model, dataset=pool, track="embedding", metrics=["localisation"],
                       n_samples=2, batch_size=2, out=tmp_path / "run", postprocess="pytorch-grad-cam")
    energy = records[records["metric"] == "loc_energy_mask"]
    assert sorted(energy["method"].unique()) == sorted(specs) and len(energy) == 4
    # a map whose positive part is empty has no energy share (not ok); EmbeddingCAM's maps here have one
    assert (energy[energy["method"] == "embeddingcam"]["status"] == "ok").all()
