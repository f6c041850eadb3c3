"""Embedding training: semi-hard mining and multi-similarity by hand, P x K batches, Recall@K, and the
CLI (with snapshots) on a CUB-format copy."""

from __future__ import annotations

import pytest
import torch

from attrbench.cli import main
from attrbench.commands.train_embedding import LOSS_CHOICES
from attrbench.embedding.losses import LOSSES, multi_similarity_loss
from attrbench.embedding.train import (
    pk_batches,
    recall_at_k,
    recalibrate_batchnorm,
    semihard_triplet_loss,
    snapshot_path,
)


def _ms_by_loops(emb, labels, *, alpha, beta, lam, eps):
    """Multi-similarity loss written out per anchor with Python loops (independent of the vectorised one)."""
    import math

    s = emb @ emb.t()
    total = 0.0
    n = len(labels)
    for i in range(n):
        pos = [float(s[i, j]) for j in range(n) if j != i and labels[j] == labels[i]]
        neg = [float(s[i, j]) for j in range(n) if labels[j] != labels[i]]
        kept_neg = [v for v in neg if v + eps > min(pos)]
        kept_pos = [v for v in pos if v - eps < max(neg)]
        total += math.log(1 + sum(math.exp(-alpha * (v - lam)) for v in kept_pos)) / alpha
        total += math.log(1 + sum(math.exp(beta * (v - lam)) for v in kept_neg)) / beta
    return total / n


def test_multi_similarity_loss_matches_the_loop_formula():
    gen = torch.Generator().manual_seed(0)
    emb = torch.nn.functional.normalize(torch.randn(12, 5, generator=gen, dtype=torch.float64), dim=1)
    labels = torch.arange(3).repeat_interleave(4)
    for alpha, beta, lam, eps in ((2.0, 50.0, 0.5, 0.1), (1.0, 10.0, 0.0, 0.3)):
        loss, stats = multi_similarity_loss(emb, labels, alpha=alpha, beta=beta, lam=lam, eps=eps)
        assert loss.item() == pytest.approx(_ms_by_loops(emb, labels, alpha=alpha, beta=beta, lam=lam, eps=eps),
                                            rel=1e-12)
        assert 0 < stats["active"] <= 1


def test_multi_similarity_mines_nothing_on_a_separated_batch():
    # two classes on opposite poles: every positive has S = 1, every negative S = -1 -> no pair mined
    emb = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    loss, stats = multi_similarity_loss(emb, torch.tensor([0, 0, 1, 1]))
    assert loss.item() == 0.0 and stats["active"] == 0.0


def test_cli_loss_choices_are_the_losses():
    assert LOSS_CHOICES == LOSSES


def test_snapshot_path():
    assert str(snapshot_path("a/embed.pt", 5)) == "a/embed-ep5.pt"



def test_semihard_loss_by_hand():
    # 1-D embeddings: class 0 at 0 and 1, class 1 at 1.5 and 4; squared distances
    emb = torch.tensor([[0.0], [1.0], [1.5], [4.0]])
    labels = torch.tensor([0, 0, 1, 1])
    loss, stats = semihard_triplet_loss(emb, labels, margin=0.5)
    # pairs (a, p): (0,1) d_ap=1, negatives d=2.25,16 -> semi-hard 2.25 -> [1-2.25+.5]+=0
    #               (1,0) d_ap=1, negatives 0.25, 9 -> semi-hard 9 -> 0
    #               (2,3) d_ap=6.25, negatives 2.25, 0.25 -> none farther -> farthest 2.25 -> 4.5
    #               (3,2) d_ap=6.25, negatives 16, 9 -> semi-hard 9 -> 0
    torch.testing.assert_close(loss, torch.tensor(4.5 / 4))
    assert stats == {"active": 0.25, "semihard": 0.75}
    with pytest.raises(ValueError, match="two classes"):
        semihard_triplet_loss(emb, torch.zeros(4, dtype=torch.long), margin=0.5)


def test_pk_batches_shape_and_determinism():
    labels = torch.arange(5).repeat_interleave(7)  # 5 classes x 7 images
    a = pk_batches(labels, p=3, k=4, generator=torch.Generator().manual_seed(0))
    b = pk_batches(labels, p=3, k=4, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(x, y) for x, y in zip(a, b)) and len(a) == len(b)
    for batch in a:
        counts = torch.bincount(labels[batch], minlength=5)
        assert set(counts.tolist()) <= {0, 4} and 2 <= int((counts > 0).sum()) <= 3
    used = torch.cat(a).unique()
    assert used.numel() >= 30  # nearly every image appears in an epoch


def test_recall_at_k_by_hand():
    emb = torch.tensor([[0.0], [0.1], [1.0], [1.05], [5.0]])
    labels = torch.tensor([0, 1, 1, 0, 0])
    # nearest other: 0->1 (miss), 1->0 (miss), 2->3 (miss), 3->2 (miss), 4->3 (hit)
    r = recall_at_k(emb, labels, ks=(1, 2))
    assert r["recall@1"] == pytest.approx(0.2)
    # 2-NN: 0:{1,2} miss; 1:{0,2} hit; 2:{3,1} hit; 3:{2,1} miss; 4:{3,2} hit
    assert r["recall@2"] == pytest.approx(0.6)


def test_recalibrated_batchnorm_holds_exact_statistics():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1), torch.nn.BatchNorm2d(2, momentum=0.001))
    x = torch.rand(10, 3, 4, 4) * 3
    recalibrate_batchnorm(net, x, device=torch.device("cpu"), batch_size=5)
    with torch.no_grad():
        feats = net[0](x)
    torch.testing.assert_close(net[1].running_mean, feats.mean((0, 2, 3)), rtol=1e-5, atol=1e-6)
    assert net[1].momentum == 0.001 and not net.training


def test_cli_trains_on_a_cub_format_copy(tmp_path):
    from attrbench.datasets.synthbirds import generate
    from attrbench.models.zoo import load_model

    root = generate(tmp_path / "cub", num_classes=4, train_per_class=3, test_per_class=1, image_size=32)
    out = tmp_path / "embed.pt"
    code = main(["train-embedding", "--dataset", "cub200", "--data-root", str(root), "--image-size", "32",
                 "--width", "2", "--dim", "8", "--epochs", "1", "--classes-per-batch", "2", "--images-per-class", "2", "--name", "embed-mini",
                 "--out", str(out)])
    assert code == 0
    model = load_model(str(out))
    assert model.spec.kind == "embedding" and model.spec.name == "embed-mini"
    assert model.spec.cam_layer == "net.backbone.layer4"
    meta = model.checkpoint_meta
    assert set(meta["metrics"]) == {"test_recall@1", "test_recall@5", "train_recall@1", "train_recall@5"}
    assert meta["command"].startswith("attrbench train-embedding --dataset cub200")
    with torch.no_grad():
        e = model(torch.rand(2, 3, 32, 32))
    torch.testing.assert_close(e.norm(dim=1), torch.ones(2))


def test_cli_saves_snapshots_with_their_own_recall(tmp_path):
    from attrbench.datasets.synthbirds import generate
    from attrbench.models.zoo import load_model

    root = generate(tmp_path / "cub", num_classes=4, train_per_class=3, test_per_class=1, image_size=32)
    out = tmp_path / "embed.pt"
    code = main(["train-embedding", "--dataset", "cub200", "--data-root", str(root), "--image-size", "32",
                 "--backbone", "resnet", "--layers", "1", "1", "--stem-stride", "2", "--width", "2", "--dim", "8",
                 "--loss", "multisimilarity", "--epochs", "3", "--snapshots", "1,2", "--classes-per-batch", "2",
                 "--images-per-class", "2", "--name", "embed-mini", "--out", str(out)])
    assert code == 0
    final = load_model(str(out))
    assert final.checkpoint_meta["snapshots"] == [str(tmp_path / "embed-ep1.pt"), str(tmp_path / "embed-ep2.pt")]
    for epoch in (1, 2):
        snap = load_model(str(tmp_path / f"embed-ep{epoch}.pt"))
        meta = snap.checkpoint_meta
        assert snap.spec.name == f"embed-mini-ep{epoch}" and meta["epoch"] == epoch
        assert len(meta["history"]) == epoch and meta["command"] == final.checkpoint_meta["command"]
        assert set(meta["metrics"]) == {"test_recall@1", "test_recall@5", "train_recall@1", "train_recall@5"}
    assert "--snapshots 1,2" in final.checkpoint_meta["command"] and final.checkpoint_meta["loss"] == "multisimilarity"
    # a snapshot at the last epoch is the final checkpoint: refused with a one-line error (exit 2)
    assert main(["train-embedding", "--dataset", "cub200", "--data-root", str(root), "--epochs", "2",
                 "--snapshots", "2", "--out", str(out)]) == 2
