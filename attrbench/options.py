"""Validation of bracket options (``name[key=value,...]``) and numeric command-line options.

:func:`attrbench.runspec.parse_spec` turns ``deletion[steps=abc]`` into
``("deletion", {"steps": "abc"})``; this module checks such options against the *typed
constructor signature* of the class they are for, before anything heavy is loaded, so that a bad
value is one line naming the spec, the option and the expected type instead of a failure deep
in a run (or, worse, a run whose every record failed):

    >>> validate_options(Deletion, {"steps": "abc"}, spec="deletion[steps=abc]")
    OptionError: deletion[steps=abc]: option 'steps' expects int, got 'abc'

Rules: an option must name a keyword parameter of the constructor (``model`` and ``spec`` are set
by the runner); an empty value (``gradcam[layer=]``) is refused; a value must match the
parameter's annotation when that is built from ``int``, ``float``, ``bool``, ``str``, ``None``
and ``tuple`` (an int is a valid float; a bool is neither); other annotations are not checked.
:func:`canonical_label` gives equivalent specs one label (``ig[]`` and ``ig`` are both ``ig``).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any, TypeVar

from attrbench.errors import OptionError

__all__ = [
    "accepted_options",
    "build_component",
    "RESERVED",
    "canonical_label",
    "non_negative_int",
    "positive_int",
    "validate_max_forward_batch",
    "validate_options",
]

#: constructor parameters the runner sets itself; a spec may not set them.
RESERVED: tuple[str, ...] = ("self", "model", "spec")



def _accepts(kind: str, value: Any) -> bool | None:
    """Does ``value`` fit the annotation atom ``kind``? None when ``kind`` is not checkable."""
    kind = kind.strip()
    base = kind.split("[", 1)[0].strip()
    if base == "None":
        return value is None
    if base == "bool":
        return isinstance(value, bool)
    if base == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if base == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base == "str":
        return isinstance(value, str)
    if base in ("tuple", "Sequence", "list"):
        if isinstance(value, tuple):
            return True
        # one value for a tuple option (``gt[topk=20]``): a spec cannot write a 1-tuple, so a
        # value of the element type is accepted (the constructors wrap it)
        inner = kind.split("[", 1)[1].rsplit("]", 1)[0] if "[" in kind else ""
        first = _split_union(inner.split(",", 1)[0]) if inner else []
        verdicts = [_accepts(atom, value) for atom in first]
        return True if any(verdicts) else (None if any(v is None for v in verdicts) else False)
    return None


def _split_union(annotation: str) -> list[str]:
    """``"int | tuple[int, int] | None"`` -> ["int", "tuple[int, int]", "None"] (top-level bars only)."""
    parts, depth, cur = [], 0, ""
    for ch in annotation:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "|" and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def _annotation_text(annotation: Any) -> str | None:
    if annotation is inspect.Parameter.empty:
        return None
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _check_value(spec: str, key: str, value: Any, annotation: str | None) -> None:
    if value == "" or (isinstance(value, tuple) and "" in value):
        raise OptionError(f"{spec}: option {key!r} has an empty value; give one ({key}=VALUE) or leave the option out")
    if annotation is None:
        return
    verdicts = [_accepts(atom, value) for atom in _split_union(annotation)]
    if any(v is None for v in verdicts) or any(verdicts):
        return
    raise OptionError(f"{spec}: option {key!r} expects {annotation}, got {value!r}")


def validate_options(cls: type, options: Mapping[str, Any], *, spec: str) -> dict[str, Any]:
    """Check ``options`` (parsed by ``parse_spec``) against the keyword parameters of ``cls``.

    Args:
        cls: the method or metric class the options are for.
        options: option name -> parsed value.
        spec: the spec as the user wrote it, for messages.

    Returns:
        the options, unchanged, as a new dict.

    Raises:
        OptionError: an unknown or reserved option (with the closest names), an empty value, or
            a value whose type does not match the parameter's annotation.
    """
    params = inspect.signature(cls.__init__).parameters
    open_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    settable = [n for n, p in params.items() if n not in RESERVED and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for key, value in options.items():
        if key in RESERVED:
            raise OptionError(f"{spec}: option {key!r} is set by attrbench, not in the spec")
        if key not in params and not open_kwargs:
            close = difflib.get_close_matches(key, settable, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            known = ", ".join(settable) or "none"
            raise OptionError(f"{spec}: unknown option {key!r}{hint} (options: {known})")
        annotation = _annotation_text(params[key].annotation) if key in params else None
        _check_value(spec, key, value, annotation)
    return dict(options)


def canonical_label(text: str) -> str:
    """One label per spec: whitespace around names, keys and values dropped, ``[]`` removed.

    ``"ig[]"`` -> ``"ig"``; ``" ig [ n_steps = 64 ] "`` -> ``"ig[n_steps=64]"``. Values keep
    their spelling (``1.0`` is not rewritten to ``1``) and options keep their order.
    """
    from attrbench.runspec import split_specs

    head, sep, rest = text.strip().partition("[")
    name = head.strip()
    if not sep:
        return name
    body = rest.rstrip()
    body = body[:-1] if body.endswith("]") else body
    items = []
    for item in split_specs(body):
        key, eq, value = item.partition("=")
        items.append(f"{key.strip()}={';'.join(v.strip() for v in value.split(';'))}" if eq else item.strip())
    return f"{name}[{','.join(items)}]" if items else name


def positive_int(value: Any, *, option: str) -> int:
    """``value`` as an int >= 1, else an :class:`OptionError` naming ``option``."""
    return _int_at_least(value, option=option, minimum=1)


def non_negative_int(value: Any, *, option: str) -> int:
    """``value`` as an int >= 0 (e.g. ``export --digits``), else an :class:`OptionError` naming ``option``."""
    return _int_at_least(value, option=option, minimum=0)


def _int_at_least(value: Any, *, option: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value).strip(), 10)
        except ValueError:
            raise OptionError(f"{option} must be an integer >= {minimum}, got {value!r}") from None
    if value < minimum:
        raise OptionError(f"{option} must be an integer >= {minimum}, got {value}")
    return value


def validate_max_forward_batch(value: Any) -> int:
    """``--max-forward-batch``: images per forward pass, an int >= 1 (0 would never run a forward)."""
    return positive_int(value, option="--max-forward-batch")


T = TypeVar("T")


def accepted_options(cls: type) -> list[str]:
    """Keyword-only constructor parameters of ``cls`` (the options a spec may set), in order."""
    params = inspect.signature(cls).parameters.values()
    return [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name != "spec"]


def build_component(cls: type[T], label: str, /, *args: Any, **kwargs: Any) -> T:
    """``cls(*args, **kwargs)`` after checking that the signature accepts these arguments.

    Args:
        cls: a method, metric or dataset class.
        label: the user's spec (e.g. ``"ig[n_steps=64]"``), named in the error.

    Raises:
        OptionError: an unknown or missing option.
    """
    try:
        inspect.signature(cls).bind(*args, **kwargs)
    except TypeError as exc:
        options = ", ".join(accepted_options(cls)) or "none"
        raise OptionError(f"{label}: {exc}; accepted options: {options}") from None
    return cls(*args, **kwargs)
