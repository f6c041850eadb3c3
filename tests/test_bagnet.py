"""BagNet identities (Brendel & Bethge, ICLR 2019) checked in float64 on width-reduced nets.

f(x) = (1/N) sum_p l_p(x); position (i, j) sees exactly the q x q box at (8i, 8j); crops at
stride-8 offsets reproduce positions; pixels outside every receptive field get zero gradient.
The full-size state_dict is compared with the official key list written from the naming rules
of the official ``bagnets/pytorchnet.py`` (docs/bagnet.md), not from our own code.
"""

from __future__ import annotations

import pytest
import torch

from attrbench.models.bagnet import BagNet, ReceptiveField, bagnet9, bagnet17, bagnet33
from attrbench.testing.models import tiny_bagnet

QS = [9, 17, 33]
BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _deep_bagnet(q: int, *, seed: int = 0) -> BagNet:
    """Two to three blocks per stage, so the kernel3 rule for blocks i >= 1 is exercised too."""
    torch.manual_seed(seed)
    net = BagNet(q, num_classes=3, width=4, layers=(2, 3, 2, 2)).double().eval()
    gen = torch.Generator().manual_seed(seed)
    for m in net.modules():  # non-trivial eval-mode BN, as in a trained net
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen, dtype=torch.float64) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen, dtype=torch.float64) + 0.5)
    return net


def _open_bagnet(q: int, *, seed: int = 0) -> BagNet:
    """A BagNet whose ReLUs are (almost) all open (BN shift +1), so every pixel in a receptive
    field has a non-zero gradient; a tiny random net can have dead paths that hide pixels."""
    net = _deep_bagnet(q, seed=seed)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.bias.data.fill_(1.0)
    return net


def _official_keys() -> list[str]:
    """The 321 official names: stem, 16 bottlenecks (3 convs + 3 BNs), 4 downsamples, fc."""
    keys = ["conv1.weight", "conv2.weight", *(f"bn1.{k}" for k in BN_KEYS)]
    for stage, blocks in enumerate((3, 4, 6, 3), start=1):
        for b in range(blocks):
            prefix = f"layer{stage}.{b}"
            for c in (1, 2, 3):
                keys.append(f"{prefix}.conv{c}.weight")
                keys += [f"{prefix}.bn{c}.{k}" for k in BN_KEYS]
            if b == 0:
                keys.append(f"{prefix}.downsample.0.weight")
                keys += [f"{prefix}.downsample.1.{k}" for k in BN_KEYS]
    return keys + ["fc.weight", "fc.bias"]


@pytest.mark.parametrize(
    ("factory", "params"), [(bagnet9, 15_688_744), (bagnet17, 16_213_032), (bagnet33, 18_310_184)]
)
def test_full_size_matches_official_keys_and_parameter_count(factory, params: int) -> None:
    net = factory()
    expected = _official_keys()
    assert len(expected) == 321
    assert list(net.state_dict().keys()) == expected
    assert sum(p.numel() for p in net.parameters()) == params
    assert net.fc.weight.shape == (1000, 2048)
    assert net.bn1.momentum == 0.001


@pytest.mark.parametrize(("q", "kernels"), [(9, (3, 3, 1, 1)), (17, (3, 3, 3, 1)), (33, (3, 3, 3, 3))])
def test_kernel3_rule_per_stage(q: int, kernels: tuple[int, ...]) -> None:
    net = bagnet9() if q == 9 else bagnet17() if q == 17 else bagnet33()
    stages = (net.layer1, net.layer2, net.layer3, net.layer4)
    for stage, k in zip(stages, kernels):
        assert stage[0].conv2.kernel_size == (k, k)
        # official kernel3 = 1 everywhere -> only block 0 of a stage is 3x3
        assert all(block.conv2.kernel_size == (1, 1) for block in list(stage)[1:])
    strides = [stage[0].conv2.stride for stage in stages]
    assert strides == [(2, 2), (2, 2), (2, 2), (1, 1)]


@pytest.mark.parametrize("q", QS)
def test_image_logit_is_mean_of_patch_logits(q: int) -> None:
    x = torch.rand(2, 3, 57, 65, generator=torch.Generator().manual_seed(q), dtype=torch.float64)
    for net in (tiny_bagnet(q, num_classes=4, seed=q).net, _deep_bagnet(q, seed=q)):
        with torch.no_grad():
            logits = net(x)
            patches = net.patch_logits(x)
        assert patches.shape[1:3] == ReceptiveField(q).grid(57, 65)
        assert (patches.mean(dim=(1, 2)) - logits).abs().max().item() < 1e-10


def test_wrapper_identity_includes_normalisation() -> None:
    model = tiny_bagnet(17, num_classes=4)
    x = torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    with torch.no_grad():
        assert (model.patch_logits(x).mean(dim=(1, 2)) - model(x)).abs().max().item() < 1e-10


@pytest.mark.parametrize("q", QS)
def test_crop_at_stride_offset_reproduces_one_position(q: int) -> None:
    net = _deep_bagnet(q, seed=1)
    x = torch.rand(1, 3, 65, 57, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rf = ReceptiveField(q)
    with torch.no_grad():
        full = net.patch_logits(x)
        for i, j in [(0, 0), (1, 2), (full.shape[1] - 1, full.shape[2] - 1)]:
            r0, r1, c0, c1 = rf.box(i, j)
            crop = net.patch_logits(x[..., r0:r1, c0:c1])
            assert crop.shape[1:3] == (1, 1)
            torch.testing.assert_close(crop[0, 0, 0], full[0, i, j], rtol=0, atol=1e-12)


@pytest.mark.parametrize("q", QS)
def test_window_crop_reproduces_a_block_of_positions(q: int) -> None:
    net = _deep_bagnet(q, seed=2)
    x = torch.rand(2, 3, 81, 81, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    i0, i1, j0, j1 = 1, 3, 0, 2  # positions i0..i1 x j0..j1 (inclusive)
    with torch.no_grad():
        full = net.patch_logits(x)
        window = net.patch_logits(x[..., 8 * i0 : 8 * i1 + q, 8 * j0 : 8 * j1 + q])
    torch.testing.assert_close(window, full[:, i0 : i1 + 1, j0 : j1 + 1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("q", QS)
def test_gradient_support_of_one_position_is_its_box(q: int) -> None:
    net = _open_bagnet(q, seed=4)
    x = torch.rand(1, 3, 73, 73, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x.requires_grad_(True)
    i, j = 2, 1
    # a random combination of the classes, so no single dead unit can hide a pixel
    weights = torch.rand(3, generator=torch.Generator().manual_seed(5), dtype=torch.float64) + 0.5
    (net.patch_logits(x)[0, i, j] * weights).sum().backward()
    support = x.grad.abs().sum(1)[0] > 0
    expected = torch.zeros(73, 73, dtype=torch.bool)
    r0, r1, c0, c1 = ReceptiveField(q).box(i, j)
    expected[r0:r1, c0:c1] = True
    assert torch.equal(support, expected)
    assert int(support.sum()) == q * q


@pytest.mark.parametrize("q", QS)
def test_pixels_outside_every_receptive_field_get_zero_gradient(q: int) -> None:
    size = 52 if q < 33 else 68  # leaves an uncovered bottom/right border for every q
    rf = ReceptiveField(q)
    coverage = rf.coverage(size, size)
    assert (coverage == 0).any()
    net = _open_bagnet(q, seed=6)
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x.requires_grad_(True)
    net(x)[:, 1].sum().backward()
    grad = x.grad.abs().sum(1)  # (2, H, W)
    assert torch.all(grad[:, coverage == 0] == 0)
    assert torch.all(grad[:, coverage > 0] > 0)


def test_non_square_input() -> None:
    net = _deep_bagnet(17, seed=7)
    x = torch.rand(2, 3, 41, 97, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    with torch.no_grad():
        logits = net(x)
        patches = net.patch_logits(x)
    assert logits.shape == (2, 3)
    assert patches.shape == (2, 4, 11, 3)  # (41 - 17) // 8 + 1, (97 - 17) // 8 + 1
    assert (patches.mean(dim=(1, 2)) - logits).abs().max().item() < 1e-10


def test_eval_mode_is_required_for_the_identities() -> None:
    net = _deep_bagnet(9, seed=8)
    assert not net.training
    x = torch.rand(4, 3, 33, 33, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    with torch.no_grad():
        full = net.patch_logits(x)
        crop = net.patch_logits(x[..., 0:9, 0:9])
        torch.testing.assert_close(crop[:, 0, 0], full[:, 0, 0], rtol=0, atol=1e-12)
        # train-mode BN normalises by batch statistics, which differ between the crop and the image
        net.train()
        crop_train = net.patch_logits(x[..., 0:9, 0:9])
        full_train = net.patch_logits(x)
    assert (crop_train[:, 0, 0] - full_train[:, 0, 0]).abs().max().item() > 1e-3
    assert not tiny_bagnet(9).training


def test_receptive_field_geometry() -> None:
    assert [ReceptiveField(q).grid(224, 224) for q in QS] == [(27, 27), (26, 26), (24, 24)]
    rf = ReceptiveField(17)
    assert rf.box(2, 3) == (16, 33, 24, 41)
    # neighbours overlap by q - 8 pixels; the last covered pixel at 224 is 216 for every q
    for q in QS:
        r = ReceptiveField(q)
        assert r.box(1, 0)[0] - r.box(0, 0)[0] == 8
        assert r.box(0, 0)[1] - r.box(1, 0)[0] == q - 8
        cov = r.coverage(224, 224)
        assert cov[216, 216] > 0 and cov[217:, :].sum() == 0 and cov[:, 217:].sum() == 0
    with pytest.raises(ValueError, match="smaller than the receptive field"):
        ReceptiveField(33).grid(32, 64)


def test_bad_construction_is_refused() -> None:
    with pytest.raises(ValueError, match="q must be one of"):
        BagNet(15)
    with pytest.raises(ValueError, match="four positive block counts"):
        BagNet(9, layers=(1, 1, 1))  # type: ignore[arg-type]
