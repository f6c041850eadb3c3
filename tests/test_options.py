"""Bracket options checked against typed constructors; canonical labels; numeric CLI options."""

from __future__ import annotations

import inspect

import pytest

from attrbench.methods import METHODS, get_method
from attrbench.metrics import METRICS, get_metric
from attrbench.options import (
    OptionError,
    canonical_label,
    non_negative_int,
    positive_int,
    validate_max_forward_batch,
    validate_options,
)
from attrbench.runspec import parse_spec


def _check(text: str, getter) -> dict:  # noqa: ANN001 - registry getter
    name, options = parse_spec(text)
    return validate_options(getter(name), options, spec=text)


def test_wrong_type_names_the_option_and_the_expected_type() -> None:
    with pytest.raises(OptionError, match=r"^deletion\[steps=abc\]: option 'steps' expects int, got 'abc'$"):
        _check("deletion[steps=abc]", get_metric)
    with pytest.raises(OptionError, match=r"option 'n_steps' expects int, got 2\.5"):
        _check("ig[n_steps=2.5]", get_method)
    with pytest.raises(OptionError, match=r"option 'baseline' expects float, got True"):
        _check("ig[baseline=true]", get_method)
    assert _check("ig[baseline=1,n_steps=8]", get_method) == {"baseline": 1, "n_steps": 8}


def test_empty_value_refused_up_front() -> None:
    with pytest.raises(OptionError, match=r"^gradcam\[layer=\]: option 'layer' has an empty value"):
        _check("gradcam[layer=]", get_method)


def test_unknown_and_reserved_options() -> None:
    with pytest.raises(OptionError, match=r"ig\[nsteps=3\]: unknown option 'nsteps'; did you mean 'n_steps'"):
        _check("ig[nsteps=3]", get_method)
    with pytest.raises(OptionError, match=r"option 'spec' is set by attrbench"):
        _check("ig[spec=x]", get_method)


@pytest.mark.parametrize("registry", ["methods", "metrics"])
def test_every_registered_class_accepts_its_own_defaults(registry: str) -> None:
    names, getter = (METHODS, get_method) if registry == "methods" else (METRICS, get_metric)
    checked = 0
    for name in names:
        cls = getter(name)
        params = inspect.signature(cls.__init__).parameters
        defaults = {k: p.default for k, p in params.items()
                    if k not in ("self", "model", "spec") and p.default is not inspect.Parameter.empty
                    and p.default != ""}  # fmt: skip
        defaults = {k: tuple(v) if isinstance(v, list) else v for k, v in defaults.items()}
        assert validate_options(cls, defaults, spec=name) == defaults
        checked += len(defaults)
    assert checked > len(names)


def test_canonical_labels() -> None:
    assert canonical_label("ig[]") == canonical_label("ig") == canonical_label("  ig ") == "ig"
    assert canonical_label(" ig [ n_steps = 64 ] ") == "ig[n_steps=64]"
    assert canonical_label("gradcam[layer=net.layer3]") == "gradcam[layer=net.layer3]"
    assert canonical_label("occlusion[window=8; 8,stride=4]") == "occlusion[window=8;8,stride=4]"
    assert canonical_label("pkg.mod:Cls[a=1.0]") == "pkg.mod:Cls[a=1.0]"


def test_numeric_command_line_options() -> None:
    with pytest.raises(OptionError, match=r"^--max-forward-batch must be an integer >= 1, got 0$"):
        validate_max_forward_batch(0)
    assert validate_max_forward_batch(64) == 64 and validate_max_forward_batch("3") == 3
    for bad in (True, 2.5, "x", -1):
        with pytest.raises(OptionError, match="--max-forward-batch"):
            validate_max_forward_batch(bad)
    with pytest.raises(OptionError, match=r"^--digits must be an integer >= 0, got -2$"):
        non_negative_int(-2, option="--digits")
    assert non_negative_int(0, option="--digits") == 0 and positive_int(1, option="--n") == 1
