"""User model factories (``--model module:factory``): importable from the current directory, typed arguments.

A factory is any callable ``module:attr`` returning an :class:`ImageModel` or a pair
``(nn.Module, ModelSpec)`` (README, "Bring your own model"). :func:`build_from_factory`:

1. imports it with the current directory importable, as ``python -m`` does
   (:func:`attrbench.registry.import_object` puts the working directory at ``sys.path[0]`` for
   names outside attrbench), so ``mymodel.py`` next to the user's data needs no ``PYTHONPATH``;
2. passes ``--weights`` as the factory's ``weights`` keyword and each ``--model-arg key=value`` as
   the keyword ``key``, the value typed by the factory's annotation (:func:`factory_kwargs`);
3. turns any exception the factory raises (a missing file, a shape mismatch in its own
   ``load_state_dict``) into one :class:`ModelFactoryError` line carrying the factory's own
   message; ``ATTRBENCH_TRACEBACK=1`` shows the traceback.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch

from attrbench.api import ModelSpec
from attrbench.errors import ExternalNameError, ModelFactoryError, OptionError
from attrbench.models.common import ImageModel

__all__ = ["build_from_factory", "factory_kwargs", "parse_model_args"]


def parse_model_args(items: list[str] | None) -> dict[str, str] | None:
    """``["depth=18", "pretrained=false"]`` (``--model-arg``, repeatable) -> {"depth": "18", ...}; None if empty.

    Raises:
        OptionError: an item without ``=`` or with an empty key, or a key given twice.
    """
    if not items:
        return None
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"--model-arg {item!r}: expected key=value, e.g. --model-arg depth=18")
        if key.strip() in out:
            raise OptionError(f"--model-arg {key.strip()!r} is given twice")
        out[key.strip()] = value.strip()
    return out


def _coerce(text: str, annotation: Any) -> Any:
    """A command-line string typed by a parameter annotation (int, float, bool, None, str atoms)."""
    from attrbench.options import _annotation_text, _split_union
    from attrbench.runspec import _parse_value

    ann = _annotation_text(annotation)
    if ann is None:
        return _parse_value(text)
    low = text.strip().lower()
    for atom in (a.split("[", 1)[0].strip() for a in _split_union(ann)):
        if atom == "None" and low in ("none", "null"):
            return None
        if atom == "bool" and low in ("true", "false"):
            return low == "true"
        for name, cast in (("int", int), ("float", float)):
            if atom == name:
                try:
                    return cast(text)
                except ValueError:
                    pass
        if atom not in ("None", "bool", "int", "float"):  # str, Path, Literal, ...: the text itself
            return text
    raise OptionError(f"expects {ann}, got {text!r}")


def factory_kwargs(factory: Callable[..., Any], *, name: str, weights: str | None,
                   model_args: Mapping[str, Any] | None) -> dict[str, Any]:  # fmt: skip
    """The keyword arguments ``factory`` is called with: ``weights`` and the typed ``model_args``.

    Args:
        factory: the imported callable.
        name: its ``module:attr`` (for messages).
        weights: ``--weights`` (passed as ``weights=``) or None (not passed).
        model_args: key -> value; strings (command line) are typed by the factory's annotations,
            other values (Python API) are passed as they are.

    Raises:
        OptionError: the factory takes no such parameter, or a value does not fit its type.
    """
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    open_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    known = [n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    kwargs: dict[str, Any] = {}
    given = dict(model_args or {})
    if weights is not None:
        if "weights" in given:
            raise OptionError("give the weights once: --weights or --model-arg weights=..., not both")
        given["weights"] = weights
    for key, value in given.items():
        option = "--weights" if key == "weights" and weights is not None else f"--model-arg {key}"
        if key not in known and not open_kwargs:
            hint = ("; add a `weights: str | None = None` parameter to load them" if key == "weights" else "")
            raise OptionError(f"{option}: factory {name} takes no parameter {key!r} "
                              f"(its parameters: {', '.join(known) or 'none'}){hint}")  # fmt: skip
        if isinstance(value, str) and (key in params or key != "weights"):  # a weights path stays a string
            annotation = params[key].annotation if key in params else inspect.Parameter.empty
            try:
                value = _coerce(value, annotation)
            except OptionError as exc:
                raise OptionError(f"{option}: factory {name}'s parameter {key!r} {exc}") from None
        kwargs[key] = value
    return kwargs


def build_from_factory(name: str, *, weights: str | None = None, model_args: Mapping[str, Any] | None = None,
                       device: torch.device | None = None) -> ImageModel:  # fmt: skip
    """The eval-mode model ``name`` (``module:factory``) builds, on ``device`` (module docstring).

    Raises:
        ExternalNameError: no such module or attribute (the working directory is searched too).
        OptionError: bad ``weights`` / ``model_args`` for this factory's signature.
        ModelFactoryError: the module's import or the factory raised (one line, its own message),
            or it returned something other than an ImageModel or (nn.Module, ModelSpec).
    """
    from attrbench.registry import import_object

    try:
        factory = import_object(name)
    except ExternalNameError:
        raise
    except Exception as exc:  # the user's module raised while importing (syntax error, missing package)
        raise ModelFactoryError(f"model {name}: importing its module raised {type(exc).__name__}: {exc}") from exc
    kwargs = factory_kwargs(factory, name=name, weights=weights, model_args=model_args)
    try:
        made = factory(**kwargs)
    except Exception as exc:  # the user's code: its own message, one line
        raise ModelFactoryError(f"model factory {name} raised {type(exc).__name__}: {exc}") from exc
    if isinstance(made, ImageModel):
        model = made
    elif isinstance(made, tuple) and len(made) == 2 and isinstance(made[1], ModelSpec):
        if not isinstance(made[0], torch.nn.Module):
            raise ModelFactoryError(f"model factory {name} returned ({type(made[0]).__name__}, ModelSpec); "
                                    "the first item must be a torch.nn.Module")  # fmt: skip
        model = ImageModel(made[0], spec=made[1])
    else:
        raise ModelFactoryError(f"model factory {name} must return an ImageModel or (nn.Module, ModelSpec), "
                                f"got {type(made).__name__}")  # fmt: skip
    return model.eval().to(device or torch.device("cpu"))
