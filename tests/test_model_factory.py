"""Factories as first-class models: cwd importable, --weights and typed --model-arg, one-line errors."""

from __future__ import annotations

import sys

import pytest
import torch

from attrbench.cli import main
from attrbench.errors import ExternalNameError, ModelFactoryError, OptionError
from attrbench.models.factory import build_from_factory, factory_kwargs, parse_model_args

FACTORY = '''
import torch
from torch import nn
from attrbench.api import ModelSpec

SEEN = {}

def make(*, weights: str | None = None, width: int = 4, scale: float = 1.0, bias: bool = True,
         tag: str = "x", depth: int | None = None):
    SEEN.update(weights=weights, width=width, scale=scale, bias=bias, tag=tag, depth=depth)
    net = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=bias), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(width, 5))
    if weights is not None:
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return net, ModelSpec(name="cwdnet", input_size=(32, 32), num_outputs=5, cam_layer="net.0")

def broken():
    raise RuntimeError("weights file smallnet.pt has 3 classes, expected 5")

def no_weights():
    return make()

def not_a_model():
    return 42
'''


@pytest.fixture
def cwd_module(tmp_path, monkeypatch):
    """A factory module in a fresh working directory that is *not* on sys.path."""
    name = f"cwdfactory_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(FACTORY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    yield name
    sys.modules.pop(name, None)


def test_factory_in_the_working_directory_gets_weights_and_typed_args(cwd_module, tmp_path) -> None:
    first = build_from_factory(f"{cwd_module}:make", model_args={"width": "6"})
    torch.save(first.net.state_dict(), tmp_path / "w.pt")
    model = build_from_factory(f"{cwd_module}:make", weights=str(tmp_path / "w.pt"),
                               model_args={"width": "6", "scale": "0.5", "bias": "true", "tag": "17",
                                           "depth": "none"})  # fmt: skip
    seen = sys.modules[cwd_module].SEEN
    assert seen == {"weights": str(tmp_path / "w.pt"), "width": 6, "scale": 0.5, "bias": True, "tag": "17",
                    "depth": None}  # fmt: skip
    for a, b in zip(first.net.state_dict().values(), model.net.state_dict().values()):
        assert torch.equal(a, b)  # the weights were loaded by the factory
    assert model.spec.name == "cwdnet" and not model.training


def test_cli_run_with_factory_weights_and_model_args(cwd_module, tmp_path, capsys) -> None:
    net = build_from_factory(f"{cwd_module}:make", model_args={"width": "3"}).net
    torch.save(net.state_dict(), tmp_path / "w.pt")
    out = tmp_path / "run"
    rc = main(["run", "--quiet", "--method", "saliency", "--model", f"{cwd_module}:make", "--weights", "w.pt",
               "--model-arg", "width=3", "--dataset", "attrbench.testing.toys:ToyImages", "--metrics", "runtime",
               "--n-samples", "2", "--out", str(out)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    import json

    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_source"] == f"{cwd_module}:make" and cfg["weights"] == "w.pt"
    assert cfg["model_args"] == {"width": "3"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model", "{m}:broken"], "model factory {m}:broken raised RuntimeError: weights file smallnet.pt has 3 "
                                    "classes, expected 5"),
        (["--model", "{m}:no_weights", "--weights", "w.pt"], "--weights: factory {m}:no_weights takes no parameter "
                                                             "'weights'"),
        (["--model", "{m}:make", "--model-arg", "width=wide"], "--model-arg width: factory {m}:make's parameter "
                                                               "'width' expects int, got 'wide'"),
        (["--model", "{m}:make", "--model-arg", "colour=red"], "factory {m}:make takes no parameter 'colour'"),
        (["--model", "{m}:make", "--model-arg", "width"], "--model-arg 'width': expected key=value"),
        (["--model", "{m}:not_a_model"], "must return an ImageModel or (nn.Module, ModelSpec), got int"),
        (["--model", "{m}:nope"], "has no attribute 'nope'"),
        (["--model", "bagnet17-synthbirds", "--model-arg", "width=3"], "takes no --model-arg"),
    ],
)
def test_factory_errors_are_one_line(cwd_module, tmp_path, capsys, args, expected) -> None:
    argv = ["run", "--quiet", "--method", "saliency", "--out", str(tmp_path / "r"),
            *[a.format(m=cwd_module) for a in args]]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("attrbench: error: "), err
    assert expected.format(m=cwd_module) in err[0]


def test_argument_helpers() -> None:
    assert parse_model_args(None) is None and parse_model_args(["a=1", "b = x"]) == {"a": "1", "b": "x"}
    with pytest.raises(OptionError, match="given twice"):
        parse_model_args(["a=1", "a=2"])

    def f(*, n: int = 1, **rest: object) -> None: ...

    assert factory_kwargs(f, name="m:f", weights="w", model_args={"n": "3", "free": "2.5"}) == {
        "n": 3, "free": 2.5, "weights": "w"}  # open **kwargs: untyped values parse as numbers
    with pytest.raises(OptionError, match="once"):
        factory_kwargs(f, name="m:f", weights="w", model_args={"weights": "v"})


def test_attrbench_names_never_come_from_the_working_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    with pytest.raises(ExternalNameError):
        build_from_factory("attrbench.no_such_module:make")
    assert str(tmp_path) not in sys.path
    assert issubclass(ModelFactoryError, OptionError)
