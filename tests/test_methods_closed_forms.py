"""Hand-checkable identities of the attribution methods (float64).

Linear model f_c(x) = <W_c, x> + c_c: every gradient is W_c, so Saliency = W, InputXGradient =
x * W, IG = DeepLift = GradientSHAP(stdevs 0) = (x - b) * W exactly, SmoothGrad = W, VarGrad = 0,
occlusion with non-overlapping windows = the window sums of (x - b) * W. BagNet: Grad-CAM at the
last layer is the patch truth; DeepLift is complete; IG is complete up to quadrature error.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import DeepLiftShap as CaptumDeepLiftShap
from captum.attr import LayerGradCam
from torch import nn

from attrbench.api import ClassLogit, ClassProbability, ModelSpec
from attrbench.ground_truth import patch_truth
from attrbench.hooks import hooks_of
from attrbench.methods import get_method
from attrbench.methods.common import TargetModule, quiet_captum
from attrbench.postprocess import PostProcess
from attrbench.testing.models import tiny_bagnet

EXACT = {"rtol": 1e-10, "atol": 1e-12}




class LinearModel(nn.Module):
    """f(x) = flatten(x) @ W.T + c: (B, 3, H, W) -> (B, C)."""

    def __init__(self, classes: int, size: int, gen: torch.Generator) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(classes, 3 * size * size, generator=gen, dtype=torch.float64))
        self.bias = nn.Parameter(torch.randn(classes, generator=gen, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.weight.T + self.bias


def _linear_case(size: int = 16):
    gen = torch.Generator().manual_seed(3)
    model = LinearModel(4, size, gen).eval()
    spec = ModelSpec(name="linear", input_size=(size, size), num_outputs=4)
    x = torch.rand(2, 3, size, size, generator=gen, dtype=torch.float64)
    labels = torch.tensor([1, 3])
    w = model.weight.detach()[labels].view(2, 3, size, size)
    return model, spec, x, ClassLogit(labels), w


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("saliency", {}, lambda x, w, b: w),
        ("inputxgradient", {}, lambda x, w, b: x * w),
        ("ig", {"baseline": 0.25}, lambda x, w, b: (x - b) * w),
        ("ig", {"baseline": 0.25, "method": "riemann_left", "n_steps": 5}, lambda x, w, b: (x - b) * w),
        ("deeplift", {"baseline": 0.25}, lambda x, w, b: (x - b) * w),
        ("gradientshap", {"baseline": 0.25, "n_samples": 3}, lambda x, w, b: (x - b) * w),
        ("smoothgrad", {"nt_samples": 3}, lambda x, w, b: w),
        ("vargrad", {"nt_samples": 3}, lambda x, w, b: torch.zeros_like(w)),
        ("guidedbackprop", {}, lambda x, w, b: w),
        ("deconvolution", {}, lambda x, w, b: w),
    ],
)
def test_linear_model_closed_forms(name, kwargs, expected):
    model, spec, x, target, w = _linear_case()
    out = get_method(name)(model, spec=spec, **kwargs)(x, target=target)
    # Captum's IG multiplies by float32 step sizes (relative error ~1e-8); the rest is float64-exact
    tol = {"rtol": 1e-6, "atol": 1e-7} if name == "ig" else {"rtol": 1e-9, "atol": 1e-9}
    torch.testing.assert_close(out, expected(x, w, kwargs.get("baseline", 0.0)), **tol)


def test_occlusion_on_linear_model_is_window_sum():
    model, spec, x, target, w = _linear_case(size=16)
    out = get_method("occlusion")(model, spec=spec, window=8, stride=8, baseline=0.5)(x, target=target)
    # f(x) - f(x with window filled by b) = sum over the window of (x - b) * W, for every pixel in it
    window_sums = F.avg_pool2d(((x - 0.5) * w).sum(1, keepdim=True), 8) * 64
    expected = F.interpolate(window_sums, scale_factor=8, mode="nearest").expand(-1, 3, -1, -1)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)  # Captum divides in float32


# ------------------------------------------------------------------------------------------------
# BagNet identities
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bagnet_case():
    model = tiny_bagnet(9, num_classes=5, seed=0)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(3, 3, 32, 32, generator=gen, dtype=torch.float64)
    return model, x, ClassLogit(torch.tensor([0, 2, 4]))


def test_gradcam_at_last_layer_equals_patch_truth(bagnet_case):
    model, x, target = bagnet_case
    raw = get_method("gradcam")(model, spec=model.spec)(x, target=target)
    truth = patch_truth(model, x, labels=target.labels, baseline=None)  # (l_p - b_c) / N
    torch.testing.assert_close(PostProcess(relu=True).reduce_map(raw)[:, 0], truth.clamp_min(0), rtol=0, atol=1e-10)
    torch.testing.assert_close(raw[:, 0], truth, rtol=0, atol=1e-10)  # raw is the signed truth itself
    assert (truth < 0).any() and (truth > 0).any()  # the ReLU is doing something


@pytest.mark.parametrize("layer", ["net.layer3", "net.layer4", "net.layer2.0.relu2"])
def test_own_gradcam_equals_captum_layergradcam(bagnet_case, layer):
    model, x, target = bagnet_case
    ours = get_method("gradcam")(model, spec=model.spec, layer=layer)(x, target=target)
    ref = LayerGradCam(target.forward_func(model), model.get_submodule(layer)).attribute(
        inputs=x, additional_forward_args=target.per_sample, relu_attributions=False
    )
    torch.testing.assert_close(ours, ref, **EXACT)
    assert hooks_of(model) == {}


def _layer3_bn3_and_score(model, x, target):
    """A = output of ``net.layer3.0.bn3`` (pre-ReLU, so g = 0 wherever the block's ReLU is off) and
    the target score, by calling the BagNet's modules by hand (no hooks)."""
    net = model.net
    h = net.layer2(net.layer1(net.relu(net.bn1(net.conv2(net.conv1(model.normalize(x)))))))
    block = net.layer3[0]
    out = block.relu2(block.bn2(block.conv2(block.relu1(block.bn1(block.conv1(h))))))
    act = block.bn3(block.conv3(out)).detach().requires_grad_(True)
    residual = block.downsample(h) if block.downsample is not None else h
    residual = residual[:, :, : act.shape[-2], : act.shape[-1]]
    feats = net.layer4(block.relu3(act + residual))
    return act, target.score(net.fc(feats.mean(dim=(2, 3))))


def _eq19_numpy(act: np.ndarray, grad: np.ndarray, *, normalised: bool) -> np.ndarray:
    """Grad-CAM++ eq. 19 written out per sample and channel: returns the map (B, h, w)."""
    b, k = act.shape[:2]
    cam = np.zeros((b, *act.shape[2:]))
    for i in range(b):
        for c in range(k):
            g, a = grad[i, c], act[i, c]
            alpha = np.zeros_like(g)
            nz = g != 0
            alpha[nz] = g[nz] ** 2 / (2 * g[nz] ** 2 + a.sum() * g[nz] ** 3)
            if normalised and alpha.sum() != 0:
                alpha = alpha / alpha.sum()
            w = (alpha * np.maximum(g, 0)).sum()
            cam[i] += w * a
    return cam


@pytest.mark.parametrize("normalised", [False, True])
def test_gradcampp_equals_independent_eq19(bagnet_case, normalised):
    model, x, target = bagnet_case
    act, score = _layer3_bn3_and_score(model, x, target)
    with torch.no_grad():
        torch.testing.assert_close(score, target.score(model(x)), **EXACT)  # the hand-called stages are the model
    (grad,) = torch.autograd.grad(score.sum(), act)
    assert (grad == 0).any() and (grad > 0).any() and (grad < 0).any()  # the 0/0 and ReLU cases occur
    expected = _eq19_numpy(act.detach().numpy(), grad.numpy(), normalised=normalised)
    ours = get_method("gradcampp")(model, spec=model.spec, layer="net.layer3.0.bn3", alpha_normalised=normalised)(
        x, target=target
    )
    torch.testing.assert_close(ours[:, 0], torch.from_numpy(expected), rtol=1e-6, atol=1e-6)


def test_ig_completeness_on_bagnet_within_quadrature_error(bagnet_case):
    """sum_i IG_i = f(x) - f(b) up to quadrature error.

    A ReLU network's path integrand is piecewise smooth with a kink wherever a unit switches, so
    the quadrature error decays like O(n^-2) rather than spectrally. Measured on this case
    (random-init BagNet, max |f(x) - f(b)| = 0.18): Gauss-Legendre 2.1e-2 at n = 32, 5.4e-3 at
    n = 128, 1.2e-3 at n = 256. Asserted: <= 1e-2 at n = 128 and smaller than at n = 32.
    """
    model, x, target = bagnet_case
    with torch.no_grad():
        delta = target.score(model(x)) - target.score(model(torch.zeros_like(x)))
    errors = []
    for n in (32, 128):
        attr = get_method("ig")(model, spec=model.spec, n_steps=n)(x, target=target)
        errors.append(float((attr.sum(dim=(1, 2, 3)) - delta).abs().max()))
    assert errors[1] <= 1e-2
    assert errors[1] < errors[0]


def test_deeplift_is_exactly_complete_on_bagnet(bagnet_case):
    model, x, target = bagnet_case
    attr = get_method("deeplift")(model, spec=model.spec, baseline=0.3)(x, target=target)
    with torch.no_grad():
        delta = target.score(model(x)) - target.score(model(torch.full_like(x, 0.3)))
    torch.testing.assert_close(attr.sum(dim=(1, 2, 3)), delta, rtol=0, atol=1e-10)


def test_deepliftshap_equals_captum_deepliftshap(bagnet_case):
    model, x, target = bagnet_case
    method = get_method("deepliftshap")(model, spec=model.spec, n_baselines=3, noise_std=0.2, seed=5)
    ours = method(x, target=target)
    refs = method.references(x)  # (B, n, 3, H, W)
    for i in range(len(x)):
        t = target.subset(slice(i, i + 1))
        with quiet_captum():
            ref = CaptumDeepLiftShap(TargetModule(model, t)).attribute(
                inputs=x[i : i + 1].clone().requires_grad_(True),
                baselines=refs[i],
                additional_forward_args=t.per_sample,
            )
        torch.testing.assert_close(ours[i : i + 1], ref, **EXACT)
    # completeness against the mean of the references
    with torch.no_grad():
        base = torch.stack([target.score(model(refs[:, k])) for k in range(3)]).mean(0)
        delta = target.score(model(x)) - base
    torch.testing.assert_close(ours.sum(dim=(1, 2, 3)), delta, rtol=0, atol=1e-10)


def test_deepliftshap_blur_references_are_complete(bagnet_case):
    model, x, target = bagnet_case
    method = get_method("deepliftshap")(model, spec=model.spec, baselines="blur", n_baselines=2, blur_sigma=2.0)
    refs = method.references(x)
    # reflect-padded normalised Gaussian: the mean is kept up to border effects; detail is removed
    assert refs.shape == (3, 2, 3, 32, 32)
    assert (refs[:, 1].std() < refs[:, 0].std() < x.std())
    attr = method(x, target=target)
    with torch.no_grad():
        base = torch.stack([target.score(model(refs[:, k])) for k in range(2)]).mean(0)
        delta = target.score(model(x)) - base
    torch.testing.assert_close(attr.sum(dim=(1, 2, 3)), delta, rtol=0, atol=1e-10)


def test_deepliftshap_constant_references_equal_deeplift(bagnet_case):
    model, x, target = bagnet_case
    shap = get_method("deepliftshap")(model, spec=model.spec, baselines="constant", baseline=0.2, n_baselines=2)
    dl = get_method("deeplift")(model, spec=model.spec, baseline=0.2)
    torch.testing.assert_close(shap(x, target=target), dl(x, target=target), **EXACT)


def test_oracle_equals_patch_truth_and_rejects_wrong_targets(bagnet_case):
    model, x, target = bagnet_case
    oracle = get_method("oracle")(model, spec=model.spec)
    torch.testing.assert_close(oracle(x, target=target)[:, 0], patch_truth(model, x, labels=target.labels), **EXACT)
    with pytest.raises(TypeError, match="ClassLogit"):
        oracle(x, target=ClassProbability(target.labels))
    model2, spec2, *_ = _linear_case()
    with pytest.raises(TypeError, match="ground truth"):
        get_method("oracle")(model2, spec=spec2)


# ------------------------------------------------------------------------------------------------
# Deconvnet (Zeiler & Fergus): switch unpooling, ReLU on the backward signal, transposed filters
# ------------------------------------------------------------------------------------------------
class ToyConvNet(nn.Module):
    """conv(3->4, 3x3) - ReLU - maxpool 2 - conv(4->5, 3x3) - ReLU - spatial sum: (B, 3, 12, 12) -> (B, 5)."""

    def __init__(self, gen: torch.Generator) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3).double()
        self.relu1 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 5, 3).double()
        self.relu2 = nn.ReLU()
        for conv in (self.conv1, self.conv2):
            conv.weight.data = torch.randn(conv.weight.shape, generator=gen, dtype=torch.float64)
            conv.bias.data = torch.randn(conv.bias.shape, generator=gen, dtype=torch.float64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu2(self.conv2(self.pool(self.relu1(self.conv1(x))))).sum(dim=(2, 3))


def test_deconvolution_equals_hand_written_zeiler_fergus_projection():
    gen = torch.Generator().manual_seed(7)
    net = ToyConvNet(gen).eval()
    spec = ModelSpec(name="toy", input_size=(12, 12), num_outputs=5)
    x = torch.randn(2, 3, 12, 12, generator=gen, dtype=torch.float64)
    labels = torch.tensor([1, 4])
    ours = get_method("deconvolution")(net, spec=spec)(x, target=ClassLogit(labels))

    with torch.no_grad():
        h1 = F.relu(net.conv1(x))
        _, switches = F.max_pool2d(h1, 2, return_indices=True)
        # d score / d relu2 output: ones on the target channel (the score is a spatial sum)
        r = torch.zeros(2, 5, 3, 3, dtype=torch.float64)
        r[torch.arange(2), labels] = 1.0
        r = F.relu(r)  # relu2: ReLU on the backward signal
        r = F.conv_transpose2d(r, net.conv2.weight)  # transposed filters, no bias
        r = F.max_unpool2d(r, switches, 2, output_size=h1.shape[-2:])  # switches
        r = F.relu(r)  # relu1
        expected = F.conv_transpose2d(r, net.conv1.weight)
    torch.testing.assert_close(ours, expected, **EXACT)
    assert (expected != 0).any()
    # it differs from the plain gradient (the ReLU mask of the forward is ignored)
    sal = get_method("saliency")(net, spec=spec)(x, target=ClassLogit(labels))
    assert not torch.allclose(ours, sal)


def test_sobel_of_a_vertical_step():
    x = torch.zeros(1, 3, 6, 6, dtype=torch.float64)
    x[..., 3:] = 1.0
    out = get_method("sobel")(nn.Identity(), spec=ModelSpec(name="none"))(x, target=ClassLogit(torch.tensor([0])))
    expected = torch.zeros(1, 3, 6, 6, dtype=torch.float64)
    expected[..., 2:4] = 4.0  # |[1, 2, 1]| column weights across the step
    torch.testing.assert_close(out, expected, **EXACT)


# ------------------------------------------------------------------------------------------------
# Constructor validation
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "kwargs", "error", "match"),
    [
        ("ig", {"n_steps": 0}, ValueError, "n_steps"),
        ("ig", {"method": "simpson"}, ValueError, "gausslegendre"),
        ("ig", {"baseline": "black"}, TypeError, "baseline"),
        ("smoothgrad", {"seed": -1}, ValueError, "seed"),
        ("smoothgrad", {"stdevs": -0.1}, ValueError, "stdevs"),
        ("occlusion", {"window": 2.5}, TypeError, "window"),
        ("deepliftshap", {"baselines": "gray"}, ValueError, "noise"),
        ("gradcam", {"layer": "net.nope"}, ValueError, "net.nope"),
        ("gradcampp", {"alpha_normalised": 1}, TypeError, "alpha_normalised"),
        ("guidedgradcam", {"interpolate_mode": "bicubic"}, ValueError, "interpolate_mode"),
    ],
)
def test_bad_hyperparameters_raise(name, kwargs, error, match):
    model = tiny_bagnet(9)
    with pytest.raises(error, match=match):
        get_method(name)(model, spec=model.spec, **kwargs)


def test_cam_without_declared_layer_is_an_error_not_a_guess():
    model = tiny_bagnet(9)
    spec = ModelSpec(name="no-cam-layer", receptive_field=9)
    with pytest.raises(ValueError, match="cam_layer"):
        get_method("gradcam")(model, spec=spec)


def test_gradcampp_weights_match_pytorch_grad_cam_on_fixed_arrays():
    """Optional differential test: pytorch-grad-cam's GradCAMPlusPlus.get_cam_weights (eq. 19 with
    +1e-6 in the denominator) on fixed (A, g) arrays; skipped where grad-cam is not installed."""
    grad_cam_plusplus = pytest.importorskip("pytorch_grad_cam.grad_cam_plusplus")
    from attrbench.methods.gradcampp import gradcampp_weights

    gen = torch.Generator().manual_seed(11)
    act = torch.rand(2, 6, 4, 4, generator=gen, dtype=torch.float64) * 2
    grad = torch.randn(2, 6, 4, 4, generator=gen, dtype=torch.float64)
    grad[grad.abs() < 0.3] = 0.0  # exact zeros exercise the 0/0 rule
    theirs = grad_cam_plusplus.GradCAMPlusPlus.get_cam_weights(None, None, None, None, act.numpy(), grad.numpy())
    ours = gradcampp_weights(act, grad)
    torch.testing.assert_close(ours, torch.from_numpy(theirs), rtol=1e-5, atol=1e-8)
