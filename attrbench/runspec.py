"""Run configuration and the ``name[key=value,...]`` spec syntax shared by methods and metrics.

A spec names a registered object and its constructor options: ``gradcam[layer=net.layer3]``,
``deletion[steps=8,fill=blur]``, ``pkg.module:Class[alpha=0.5]``. Values parse as int, float,
bool (true/false), None (none) or str; ``a;b`` gives a tuple.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from typing import Any

from attrbench.errors import OptionError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MAX_FORWARD_BATCH",
    "DEFAULT_N_SAMPLES",
    "RunConfig",
    "parse_spec",
    "split_specs",
    "unit_seed",
]

#: defaults chosen from measurements on the 2-core CPU (forward time per image of bagnet17-synthbirds
#: at 96 px: batches of 16 were ~1.5x slower per image than 32-128, which were equal within noise;
#: IG with 32 steps holds B * 32 images with gradients, ~5 GB RSS at B = 16, so B = 8).
DEFAULT_N_SAMPLES = 48
DEFAULT_BATCH_SIZE = 8
DEFAULT_MAX_FORWARD_BATCH = 64

_SPEC = re.compile(r"^\s*([^\[\]]+?)\s*(?:\[(.*)\])?\s*$")


def split_specs(text: str) -> list[str]:
    """Split ``"a,b[k=1,j=2],c"`` at commas outside brackets."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return [s for s in out if s]


def _parse_value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def parse_spec(text: str) -> tuple[str, dict[str, Any]]:
    """``"gradcam[layer=net.layer3,relu=false]"`` -> ("gradcam", {"layer": "net.layer3", "relu": False}).

    Values parse as int, float, bool (true/false), None (none) or else str; ``a;b`` gives a tuple.
    """
    match = _SPEC.match(text)
    if not match:
        raise OptionError(f"cannot parse {text!r}; expected name or name[key=value,...]")
    name, body = match.group(1), match.group(2)
    options: dict[str, Any] = {}
    for item in split_specs(body or ""):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"cannot parse option {item!r} in {text!r}; expected key=value")
        options[key.strip()] = (
            tuple(_parse_value(v) for v in value.split(";")) if ";" in value else _parse_value(value)
        )
    return name, options


@dataclasses.dataclass
class RunConfig:
    """Everything that defines a run (the ``fingerprint`` part must match on resume)."""

    methods: list[str]
    model: str = "bagnet17-synthbirds"
    dataset: str = "synthbirds"
    data_root: str | None = None
    split: str = "test"
    weights: str | None = None
    metrics: list[str] | None = None
    n_samples: int = DEFAULT_N_SAMPLES
    batch_size: int = DEFAULT_BATCH_SIZE
    device: str | None = None
    seed: int = 0
    out: str | None = None
    postprocess: str = "raw"
    track: str = "classification"
    resume: bool = False
    max_forward_batch: int = DEFAULT_MAX_FORWARD_BATCH
    progress: bool = True


def unit_seed(seed: int, method: str, batch_index: int) -> int:
    """The seed of one (method, batch) unit: crc32(f"{seed}/{method}/{batch_index}") & 0x7fffffff."""
    return zlib.crc32(f"{seed}/{method}/{batch_index}".encode()) & 0x7FFFFFFF
