"""Post-processing presets that match practice (signed, magnitude; per-method defaults) and one run seed."""

from __future__ import annotations

import json

import torch

from attrbench.api import MethodInfo, Resolution
from attrbench.cli import main as cli_main
from attrbench.postprocess import DEFAULT_PRESET, PRESETS, PostProcess, preset_for
from attrbench.runner import RunConfig, run
from attrbench.testing import toys as toy

# (1, 3, 2, 2): channel values per pixel chosen so that sum and max |.| differ in sign and order
RAW = torch.tensor([[[[1.0, -4.0], [0.5, 0.0]],
                     [[-3.0, 1.0], [0.5, -2.0]],
                     [[2.0, 1.0], [0.5, 1.0]]]], dtype=torch.float64)  # fmt: skip
INFO = MethodInfo(name="hand", paper="-", resolution=Resolution.INPUT)


def test_signed_preset_is_the_channel_sum() -> None:
    out = PRESETS["signed"](RAW, size=(2, 2), info=INFO)
    # pixel (0,0): 1 - 3 + 2 = 0; (0,1): -4 + 1 + 1 = -2; (1,0): 1.5; (1,1): 0 - 2 + 1 = -1
    torch.testing.assert_close(out, torch.tensor([[[[0.0, -2.0], [1.5, -1.0]]]], dtype=torch.float64), rtol=0, atol=0)


def test_magnitude_preset_is_the_max_absolute_channel() -> None:
    out = PRESETS["magnitude"](RAW, size=(2, 2), info=INFO)
    # pixel (0,0): max(1, 3, 2) = 3; (0,1): max(4, 1, 1) = 4; (1,0): 0.5; (1,1): max(0, 2, 1) = 2
    torch.testing.assert_close(out, torch.tensor([[[[3.0, 4.0], [0.5, 2.0]]]], dtype=torch.float64), rtol=0, atol=0)


def test_preset_for_uses_the_declaration_unless_overridden() -> None:
    from attrbench.methods import get_method

    assert preset_for(get_method("saliency").info) == ("magnitude", PRESETS["magnitude"])
    assert preset_for(get_method("ig").info) == (DEFAULT_PRESET, PRESETS["signed"])
    assert preset_for(get_method("saliency").info, override="signed")[0] == "signed"
    custom = PostProcess(reduce="l2")
    assert preset_for(get_method("saliency").info, override=custom) == ("custom", custom)


def test_list_postprocess_names_the_presets(capsys) -> None:
    assert cli_main(["list", "postprocess"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert {"signed", "magnitude", "raw"} <= set(names)
    assert "reduce=max_abs" in lines[names.index("magnitude")] and "reduce=sum" in lines[names.index("signed")]


def _run(tmp_path, name: str, **kw) -> dict:
    out = tmp_path / name
    base = dict(methods=["saliency", f"{toy.__name__}:ToyInputXGradient"], model=toy.MODEL, dataset=toy.DATASET,
                metrics=["localisation"], n_samples=2, batch_size=2, out=str(out), device="cpu", progress=False)
    run(RunConfig(**{**base, **kw}))
    return json.loads((out / "config.json").read_text())


def test_each_method_records_its_preset_and_the_override_wins(tmp_path) -> None:
    cfg = _run(tmp_path, "default")
    methods = cfg["method_config"]
    assert methods["saliency"]["postprocess"]["preset"] == "magnitude"
    assert methods["saliency"]["postprocess"]["config"]["reduce"] == "max_abs"
    assert methods[f"{toy.__name__}:ToyInputXGradient"]["postprocess"]["preset"] == "signed"
    cfg = _run(tmp_path, "override", postprocess="signed")
    assert cfg["method_config"]["saliency"]["postprocess"] == {"preset": "signed", "config": PRESETS["signed"].as_dict()}
    assert cfg["postprocess_config"] == PRESETS["signed"].as_dict()


def _random_map(seed: int, spec: str = "random") -> torch.Tensor:
    from attrbench.context import RunContext

    ctx = RunContext.open(RunConfig(methods=[spec], model=toy.MODEL, dataset=toy.DATASET, metrics=["runtime"],
                                    n_samples=2, batch_size=2, seed=seed, device="cpu", progress=False,
                                    sampling="first"))  # the same images whatever the seed
    batch = ctx.prepare_batch(next(iter(ctx.loader())))
    target = ctx.track.make_target(model=ctx.model, batch=batch)
    return ctx.methods[0].instance(batch.images, target=target)


def test_run_seed_reaches_the_random_method() -> None:
    assert torch.equal(_random_map(1), _random_map(1))
    assert not torch.equal(_random_map(1), _random_map(2))
    # a method's own seed option wins over the run seed
    assert torch.equal(_random_map(1, "random[seed=7]"), _random_map(2, "random[seed=7]"))
    assert not torch.equal(_random_map(7, "random"), _random_map(1, "random[seed=3]"))


def test_seed_source_is_recorded(tmp_path) -> None:
    cfg = _run(tmp_path, "seeded", methods=["random", "smoothgrad[seed=5]", "saliency"], seed=11)
    methods = cfg["method_config"]
    assert methods["random"]["config"]["seed"] == 11 and methods["random"]["seed_source"] == "run seed"
    assert methods["smoothgrad[seed=5]"]["config"]["seed"] == 5
    assert methods["smoothgrad[seed=5]"]["seed_source"] == "method option"
    assert methods["saliency"]["seed_source"] is None


def test_every_stochastic_builtin_takes_the_run_seed() -> None:
    import inspect

    from attrbench.context import run_seed_kwargs
    from attrbench.methods import get_method, list_methods

    stochastic = [get_method(n) for n in list_methods() if get_method(n).info.stochastic]
    assert {c.info.name for c in stochastic} >= {"random", "smoothgrad", "vargrad", "gradientshap"}
    for cls in stochastic:
        assert "seed" in inspect.signature(cls).parameters, cls.info.name
        assert run_seed_kwargs(cls, {}, 9) == {"seed": 9} and run_seed_kwargs(cls, {"seed": 1}, 9) == {}
