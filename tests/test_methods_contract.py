"""One contract for every registered method (parametrised over ``list_methods()``).

On a small float64 case (tiny BagNet-9, 32 x 32, batch 3; embedding methods: their own case,
see attrbench.testing.contract) every method must:
    * return the shape of its declared resolution, in the input dtype, all finite;
    * give each sample the same attribution in a batch as alone (stochastic methods seed each
      sample's noise from (seed, image content), so this holds for them too);
    * leave inputs, parameters, buffers and the global RNG states unchanged and no hooks behind;
    * be deterministic (stochastic ones: the seed changes the result, the same seed repeats it);
    * give the same output under ``torch.no_grad()`` (the runner may call it there);
    * match its stored reference output tests/reference/<name>.pt.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from attrbench.api import Resolution
from attrbench.ground_truth import receptive_field_of
from attrbench.hooks import capture_output, hooks_of
from attrbench.methods import get_method, list_methods
from attrbench.testing.contract import contract_case
from attrbench.testing.references import REFERENCE_BATCH, reference_path

EXACT = {"rtol": 1e-10, "atol": 1e-12}




@pytest.fixture(params=list_methods(), scope="module")
def setup(request):
    name = request.param
    cls = get_method(name)
    case = contract_case(name, cls)
    method = case.build(cls)
    out = method(case.inputs, target=case.target)
    return name, cls, case, method, out


def expected_shape(method, case, info):
    b, c, h, w = case.inputs.shape
    if info.resolution is Resolution.INPUT:
        return (b, c, h, w)
    if info.resolution is Resolution.PATCH:
        return (b, 1, *receptive_field_of(case.model).grid(h, w))
    layer = case.model.get_submodule(method.layer)
    with capture_output(layer) as acts, torch.no_grad():
        case.model(case.inputs)
    return (b, 1, *acts[0].shape[-2:])


def test_info_matches_registry_name(setup):
    name, cls, *_ = setup
    assert cls.info.name == name


def test_declared_baseline_and_track(setup):
    name, cls, case, method, _ = setup
    # a baseline method declares its pixel baseline; the others keep the contract's None
    assert isinstance(method.baseline, float) if cls.info.needs_baseline else method.baseline is None
    assert cls.info.track in (None, "embedding")
    # the contract case of a method explains its declared track's targets
    from attrbench.testing.contract import CASE_FACTORIES

    assert (cls.info.track == "embedding") == CASE_FACTORIES.get(name, "").endswith(":embedding_case")


def test_shape_dtype_finite(setup):
    _, cls, case, method, out = setup
    assert tuple(out.shape) == expected_shape(method, case, cls.info)
    assert out.dtype == case.inputs.dtype
    assert not out.requires_grad  # detached: no graph kept alive
    assert torch.isfinite(out).all()
    assert out.abs().sum() > 0  # a method that returns zeros everywhere explains nothing


def test_batch_equals_one_by_one(setup):
    _, _, case, method, out = setup
    singles = [method(case.inputs[i : i + 1], target=case.target.subset(slice(i, i + 1))) for i in range(len(out))]
    torch.testing.assert_close(torch.cat(singles), out, **EXACT)


def test_inputs_parameters_unchanged_and_no_hooks(setup):
    _, cls, case, _, _ = setup
    inputs_before = case.inputs.clone()
    state_before = {k: v.clone() for k, v in case.model.state_dict().items()}
    requires_grad = {k: p.requires_grad for k, p in case.model.named_parameters()}
    torch_rng, numpy_rng = torch.random.get_rng_state(), np.random.get_state()
    case.build(cls)(case.inputs, target=case.target)
    # seeded methods restore the global generators (the caller's random stream is not disturbed)
    assert torch.equal(torch.random.get_rng_state(), torch_rng)
    assert np.array_equal(np.random.get_state()[1], numpy_rng[1])
    assert torch.equal(case.inputs, inputs_before) and not case.inputs.requires_grad
    for key, value in case.model.state_dict().items():
        assert torch.equal(value, state_before[key]), key
    assert {k: p.requires_grad for k, p in case.model.named_parameters()} == requires_grad
    assert all(p.grad is None for p in case.model.parameters())
    assert hooks_of(case.model) == {}
    assert not case.model.training


def test_deterministic_and_seeded(setup):
    _, cls, case, method, out = setup
    torch.manual_seed(12345)  # the global RNG state must not matter
    again = case.build(cls)(case.inputs, target=case.target)
    assert torch.equal(again, out)
    if "seed" in inspect.signature(cls.__init__).parameters:
        assert cls.info.stochastic
        other = case.build(cls, seed=method.seed + 1)(case.inputs, target=case.target)
        assert not torch.allclose(other, out)


def test_same_output_under_no_grad(setup):
    _, _, case, method, out = setup
    with torch.no_grad():
        inside = method(case.inputs, target=case.target)
    torch.testing.assert_close(inside, out, **EXACT)


def test_matches_stored_reference(setup):
    name, cls, *_ = setup
    path = reference_path(name)
    if not path.exists():
        pytest.fail(
            f"no reference output for method {name!r} at {path}; create it with "
            f"'attrbench references --write {name}' and commit it"
        )
    stored = torch.load(path, weights_only=True)["output"]
    case = contract_case(name, cls, batch=REFERENCE_BATCH)
    out = case.build(cls)(case.inputs, target=case.target)
    scale = float(stored.abs().max())
    torch.testing.assert_close(out.to(torch.float32), stored, rtol=1e-4, atol=1e-6 * scale)


def test_channels_last_model_and_inputs_give_the_same_map(setup):
    """Runs put attrbench's own architectures in channels-last memory (attrbench.models.layout): same maps, standard shape."""
    import copy
    import dataclasses

    _, cls, case, _, out = setup
    model = copy.deepcopy(case.model).to(memory_format=torch.channels_last)
    last = dataclasses.replace(case, model=model, inputs=case.inputs.contiguous(memory_format=torch.channels_last))
    got = last.build(cls)(last.inputs, target=last.target)
    assert tuple(got.shape) == tuple(out.shape)
    torch.testing.assert_close(got, out, rtol=1e-7, atol=1e-9)
