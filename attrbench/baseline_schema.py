"""Schema of the baseline JSON written by ``attrbench baseline``, and the no-code-in-files rule.

:func:`validate_baseline` checks a parsed baseline file completely, so that ``attrbench check``
never gates on a value it misread. Every error is one line naming the file and the JSON path
(``baseline.json: $.entries[3].tolerance: ...``):

- the top level is an object with ``format`` = ``attrbench-baseline/1``, an object ``config``
  and a non-empty list ``entries``;
- ``config`` holds only the known keys (:data:`attrbench.check.CONFIG_KEYS`), each of its type
  (``n_samples``, ``batch_size``, ``max_forward_batch`` integers >= 1, ``seed`` an integer,
  ``metrics`` a list of strings, ``postprocess`` a preset name or an object,
  ``postprocess_config`` and ``model_args`` objects, the rest strings) or null;
- each entry is an object with non-empty strings ``model``, ``method``, ``metric``; a finite
  number ``mean``; ``ci_low`` / ``ci_high`` finite numbers or null; a finite ``tolerance`` >= 0;
  an integer ``n`` >= 0; booleans ``higher_is_better`` and (optional) ``gated`` (JSON ``true`` /
  ``false``: the string ``"false"`` is refused, it would flip the direction); a known
  ``metric`` (a declared output of a registered metric, ``prefix`` or ``prefix@suffix``) whose
  direction and ``category`` agree with that metric's declaration; no (model, method, metric)
  twice; an optional string ``ci_method`` (how the mean was made: "bootstrap, ratio of means"
  for a normalised AUC taken as the normalised AUC of the mean curve). Booleans are not numbers;
  NaN and infinities are refused everywhere.

:func:`refuse_code_references` enforces that a file (a baseline, a run's ``config.json``) never
names code to import: a ``module:attr`` string found in it is refused unless it is a built-in
registration or the user passed it on the command line (``--model``, ``--method``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from attrbench.errors import DataError

__all__ = [
    "BaselineError",
    "builtin_references",
    "code_references",
    "known_metric_outputs",
    "refuse_code_references",
    "validate_baseline",
]

#: ``pkg.module:attr`` (attr may be dotted), optionally followed by ``[options]``.
_CODE_REF = re.compile(r"^\s*([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*(?:\[.*\])?\s*$")
_STRING_KEYS = ("model", "weights", "dataset", "data_root", "split", "track")
_POSITIVE_KEYS = ("n_samples", "batch_size", "max_forward_batch")


class BaselineError(DataError):
    """A baseline file breaks the schema; the message names the file and the JSON path."""


def _fail(path: Path | str, where: str, what: str) -> BaselineError:
    return BaselineError(f"{path}: {where}: {what}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def known_metric_outputs() -> dict[str, tuple[bool, str]]:
    """Declared output prefix -> (higher_is_better, category) over every registered metric."""
    from attrbench.metrics import METRICS, get_metric

    out: dict[str, tuple[bool, str]] = {}
    for name in METRICS:
        cls = get_metric(name)
        for prefix, higher in cls.outputs.items():
            out[prefix] = (bool(higher), str(cls.info.category.value))
    return out


def _check_config(config: Any, path: Path | str) -> None:
    from attrbench.check import CONFIG_KEYS

    if not isinstance(config, dict):
        raise _fail(path, "$.config", f"expected an object, got {type(config).__name__}")
    for key, value in config.items():
        where = f"$.config.{key}"
        if key not in CONFIG_KEYS:
            raise _fail(path, where, f"unknown key (known: {', '.join(CONFIG_KEYS)})")
        if value is None:
            continue
        if key in _STRING_KEYS and not isinstance(value, str):
            raise _fail(path, where, f"expected a string or null, got {value!r}")
        if key in _POSITIVE_KEYS and not (_is_int(value) and value >= 1):
            raise _fail(path, where, f"expected an integer >= 1 or null, got {value!r}")
        if key == "seed" and not _is_int(value):
            raise _fail(path, where, f"expected an integer or null, got {value!r}")
        if key == "metrics" and not (isinstance(value, list) and all(isinstance(m, str) and m for m in value)):
            raise _fail(path, where, f"expected a list of metric names, got {value!r}")
        if key == "postprocess" and not isinstance(value, (str, dict)):
            raise _fail(path, where, f"expected a preset name, an object or null, got {value!r}")
        if key == "model_args" and not (isinstance(value, dict) and all(isinstance(k, str) for k in value)):
            raise _fail(path, where, f"expected an object of factory arguments or null, got {value!r}")
        if key == "postprocess_config" and not isinstance(value, dict):
            raise _fail(path, where, f"expected an object or null, got {type(value).__name__}")


def _check_entry(entry: Any, where: str, path: Path | str, outputs: Mapping[str, tuple[bool, str]]) -> tuple:
    """Validate one entry; returns its (model, method, metric) key."""
    if not isinstance(entry, dict):
        raise _fail(path, where, f"expected an object, got {type(entry).__name__}")
    for key in ("model", "method", "metric"):
        if not (isinstance(entry.get(key), str) and entry[key].strip()):
            raise _fail(path, f"{where}.{key}", f"expected a non-empty string, got {entry.get(key, '<missing>')!r}")
    for key in ("mean", "tolerance"):
        if not _is_finite_number(entry.get(key)):
            raise _fail(path, f"{where}.{key}", f"expected a finite number, got {entry.get(key, '<missing>')!r}")
    if entry["tolerance"] < 0:
        raise _fail(path, f"{where}.tolerance", f"must be >= 0, got {entry['tolerance']!r}")
    for key in ("ci_low", "ci_high"):
        if entry.get(key) is not None and not _is_finite_number(entry[key]):
            raise _fail(path, f"{where}.{key}", f"expected a finite number or null, got {entry[key]!r}")
    if "n" in entry and not (_is_int(entry["n"]) and entry["n"] >= 0):
        raise _fail(path, f"{where}.n", f"expected an integer >= 0, got {entry['n']!r}")
    for key, required in (("higher_is_better", True), ("gated", False)):
        if (required or key in entry) and not isinstance(entry.get(key), bool):
            got = entry.get(key, "<missing>")
            raise _fail(path, f"{where}.{key}", f"expected true or false (a JSON boolean), got {got!r}")
    if "ci_method" in entry and not isinstance(entry["ci_method"], str):
        raise _fail(path, f"{where}.ci_method", f"expected a string, got {entry['ci_method']!r}")
    metric = entry["metric"]
    prefix = metric.split("[", 1)[0].split("@", 1)[0]  # "deletion_auc[fill=blur]": a metric spec's label
    if prefix not in outputs:
        raise _fail(path, f"{where}.metric", f"unknown metric {metric!r} (known: {', '.join(sorted(outputs))})")
    higher, category = outputs[prefix]
    if entry["higher_is_better"] != higher:
        raise _fail(path, f"{where}.higher_is_better", f"{metric} is {'higher' if higher else 'lower'} is better")
    if "category" in entry and entry["category"] != category:
        raise _fail(path, f"{where}.category", f"{metric} has category {category!r}, got {entry['category']!r}")
    return entry["model"], entry["method"], metric


def validate_baseline(data: Any, *, path: str | Path) -> dict[str, Any]:
    """Check a parsed baseline file against the schema (module docstring).

    Args:
        data: the result of ``json.loads`` on the file.
        path: the file, for messages.

    Returns:
        ``data``, unchanged.

    Raises:
        BaselineError: (a :class:`~attrbench.errors.DataError`) the first violation, as one line
            naming ``path`` and the JSON path.
    """
    from attrbench.check import BASELINE_FORMAT

    if not isinstance(data, dict):
        raise _fail(path, "$", f"expected an object, got {type(data).__name__}")
    if data.get("format") != BASELINE_FORMAT:
        got = data.get("format", "<missing>")
        raise _fail(path, "$.format", f"not an attrbench baseline (expected {BASELINE_FORMAT!r}, got {got!r})")
    for key in ("config", "entries"):
        if key not in data:
            raise _fail(path, f"$.{key}", "missing")
    _check_config(data["config"], path)
    entries = data["entries"]
    if not isinstance(entries, list) or not entries:
        raise _fail(path, "$.entries", f"expected a non-empty list of entries, got {entries!r}")
    outputs = known_metric_outputs()
    seen: dict[tuple, int] = {}
    for i, entry in enumerate(entries):
        key = _check_entry(entry, f"$.entries[{i}]", path, outputs)
        if key in seen:
            raise _fail(path, f"$.entries[{i}]", f"repeats $.entries[{seen[key]}] ({', '.join(key)})")
        seen[key] = i
    return data


def code_references(data: Any, *, where: str = "$") -> Iterator[tuple[str, str]]:
    """Every ``module:attr`` string value in ``data`` (nested objects and lists), as (JSON path, reference)."""
    if isinstance(data, str):
        match = _CODE_REF.match(data)
        if match:
            yield where, match.group(1)
    elif isinstance(data, Mapping):
        for key, value in data.items():
            yield from code_references(value, where=f"{where}.{key}")
    elif isinstance(data, (list, tuple)):
        for i, value in enumerate(data):
            yield from code_references(value, where=f"{where}[{i}]")


def builtin_references() -> frozenset[str]:
    """``module:attr`` of every built-in registration (methods, metrics, datasets, tracks)."""
    from attrbench.datasets import DATASETS
    from attrbench.methods import METHODS
    from attrbench.metrics import METRICS
    from attrbench.tracks import TRACKS

    return frozenset(v for table in (METHODS, METRICS, DATASETS, TRACKS) for v in table.values() if ":" in v)


def refuse_code_references(data: Any, *, path: str | Path, allowed: Collection[str] = (), where: str = "$") -> None:
    """Refuse a file that names code to import, unless the user allowed that code on the command line.

    Args:
        data: the parsed file, or a part of it (then give ``where``, e.g. ``"$.config"``).
        path: the file, for messages.
        allowed: ``module:attr`` references the user passed on the command line (``--model``,
            the module:Class part of ``--method NAME=module:Class``); specs with ``[options]``
            count by their ``module:attr``.
        where: the JSON path of ``data`` in the file.

    Raises:
        DataError: the first reference that is neither built in nor allowed, naming the file,
            the JSON path and the command-line option that would allow it.
    """
    ok = set(builtin_references())
    for item in allowed:
        match = _CODE_REF.match(item.partition("=")[2] if "=" in item.split("[", 1)[0] else item)
        if match:
            ok.add(match.group(1))
    for json_path, ref in code_references(data, where=where):
        if ref not in ok:
            raise DataError(
                f"{path}: {json_path} names code to import ({ref!r}); a file never runs code: pass it on the "
                "command line (--model or --method) if you trust it"
            )
