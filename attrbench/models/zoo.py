"""Named models: checkpoints shipped with attrbench, local files, and the official BagNet weights.

A model name resolves, in this order, to
    1. a checkpoint shipped in ``attrbench/checkpoints/<name>.pt`` (small models trained by
       ``attrbench train``; the command that made each is stored inside it and in results/);
    2. an official ImageNet BagNet (``bagnet9-imagenet`` ...), whose weights the user gives as a
       local file or a URL (``weights=``); a URL is downloaded once into a cache and its SHA-256
       must start with the hex suffix of the file name (torch-hub convention);
    3. a path to an attrbench checkpoint file;
    4. ``"pkg.module:factory"``: a user function returning an :class:`ImageModel` or a pair
       ``(nn.Module, ModelSpec)``.

attrbench checkpoint format (a dict; loadable with ``torch.load(weights_only=True)``):
    {"format": "attrbench-checkpoint/1", "arch": "bagnet9", "arch_kwargs": {...},
     "spec": {ModelSpec fields}, "state_dict": {...}, "meta": {"command": ..., "metrics": ...}}
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attrbench.api import ModelSpec
from attrbench.errors import CheckpointError, OptionError
from attrbench.fileio import honour_umask
from attrbench.models.checkpoint_check import build_checked, check_payload, check_spec
from attrbench.models.common import ImageModel
from attrbench.registry import Registry, import_object

__all__ = [
    "ARCHS",
    "CheckpointError",
    "OFFICIAL_BAGNETS",
    "build_arch",
    "download_verified",
    "list_models",
    "load_checkpoint",
    "load_model",
    "load_official_bagnet",
    "save_checkpoint",
    "shipped_dir",
]

CHECKPOINT_FORMAT = "attrbench-checkpoint/1"

#: architecture name -> factory; the factory takes the checkpoint's ``arch_kwargs``.
ARCHS: dict[str, str] = {
    "bagnet9": "attrbench.models.bagnet:bagnet9",
    "bagnet17": "attrbench.models.bagnet:bagnet17",
    "bagnet33": "attrbench.models.bagnet:bagnet33",
    "embedding": "attrbench.models.embedding:EmbeddingNet",
    "resnet": "attrbench.models.comparison:small_resnet",
    "vgg": "attrbench.models.comparison:small_vgg",
}

OFFICIAL_BASE_URL = (
    "https://bitbucket.org/wielandbrendel/bag-of-feature-pretrained-models/raw/"
    "249e8fa82c0913623a807d9d35eeab9da7dcc2a8/"
)
#: official ImageNet BagNets: name -> (q, file name with SHA-256 prefix).
OFFICIAL_BAGNETS: dict[str, tuple[int, str]] = {
    "bagnet9-imagenet": (9, "bagnet8-34f4ccd2.pth.tar"),
    "bagnet17-imagenet": (17, "bagnet16-105524de.pth.tar"),
    "bagnet33-imagenet": (33, "bagnet32-2ddd53ed.pth.tar"),
}
_HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")


def shipped_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "checkpoints"


def _shipped() -> dict[str, Path]:
    return {p.stem: p for p in sorted(shipped_dir().glob("*.pt"))}


def list_models() -> list[str]:
    """Names of shipped and official models."""
    return sorted(set(_shipped()) | set(OFFICIAL_BAGNETS))


def _registry() -> Registry:
    mapping = {name: str(path) for name, path in _shipped().items()}
    mapping.update({name: OFFICIAL_BASE_URL + f for name, (_, f) in OFFICIAL_BAGNETS.items()})
    return Registry("models", mapping)


def build_arch(arch: str, arch_kwargs: dict[str, Any]) -> nn.Module:
    if arch not in ARCHS:
        raise CheckpointError(f"unknown architecture {arch!r}; known: {', '.join(sorted(ARCHS))}")
    factory = import_object(ARCHS[arch])
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in arch_kwargs.items()}
    return factory(**kwargs)


def _load_state_dict_checked(net: nn.Module, state: dict[str, torch.Tensor], *, source: str) -> None:
    """Strict load with a readable error; only ``num_batches_tracked`` may be missing."""
    own = net.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    wrong = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (first: {missing[:3]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (first: {unexpected[:3]})")
    if wrong:
        problems.append(f"{len(wrong)} keys with wrong shapes (first: {wrong[:3]})")
    if problems:
        raise CheckpointError(f"checkpoint {source} does not fit the model: " + "; ".join(problems))
    net.load_state_dict(state, strict=False)


def _torch_load(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, pickle with code, truncated download, ...
        raise CheckpointError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from exc


def save_checkpoint(
    path: str | Path,
    *,
    model: ImageModel,
    arch: str,
    arch_kwargs: dict[str, Any],
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write an attrbench checkpoint atomically (see the module docstring for the format)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(model.spec).items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "arch": arch,
        "arch_kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in arch_kwargs.items()},
        "spec": spec,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.net.state_dict().items()},
        "meta": meta or {},
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        honour_umask(tmp)  # mkstemp creates 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_checkpoint(path: str | Path, *, device: torch.device | None = None) -> ImageModel:
    """Load an attrbench checkpoint file into an eval-mode :class:`ImageModel`."""
    path = Path(path)
    payload = _torch_load(path)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is not an attrbench checkpoint (expected a dict with format={CHECKPOINT_FORMAT!r}); "
            "official BagNet weights load with load_official_bagnet() or --weights"
        )
    for key in ("arch", "arch_kwargs", "spec", "state_dict"):
        if key not in payload:
            raise CheckpointError(f"checkpoint {path} lacks the entry {key!r}")
    check_payload(payload, path=path)  # types, finite weights (attrbench.models.checkpoint_check)
    spec = check_spec(payload["spec"], path=path)
    net = build_checked(payload, spec, path=path)  # checked on the meta device first
    _load_state_dict_checked(net, payload["state_dict"], source=str(path))
    model = ImageModel(net, spec=spec)
    model.checkpoint_meta = payload.get("meta", {})
    return model.eval().to(device or torch.device("cpu"))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_verified(url: str, *, cache_dir: str | Path | None = None) -> Path:
    """Download ``url`` once into ``cache_dir`` and check the SHA-256 prefix in its file name.

    The file name must look like ``name-<hex>.ext``; SHA-256(file) must start with ``<hex>``.
    A file already in the cache is re-verified, never trusted blindly.
    """
    name = Path(urllib.parse.urlparse(url).path).name
    match = _HASH_REGEX.search(name)
    if not match or not match.group(1):
        raise CheckpointError(f"{url}: file name has no '-<sha256 prefix>.' part to verify against")
    prefix = match.group(1)
    cache = Path(cache_dir or os.environ.get("ATTRBENCH_CACHE", Path.home() / ".cache" / "attrbench"))
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / name
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=cache, suffix=".part")
        os.close(fd)
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:  # noqa: S310
                shutil.copyfileobj(response, out)
            honour_umask(tmp)
            os.replace(tmp, target)
        except OSError as exc:
            raise CheckpointError(f"cannot download {url}: {exc}") from exc
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    digest = _sha256(target)
    if not digest.startswith(prefix):
        target.unlink()
        raise CheckpointError(
            f"{url}: SHA-256 {digest[:16]}... does not start with {prefix!r}; the file was removed from the cache"
        )
    return target


def load_official_bagnet(
    q: int,
    *,
    weights: str | Path,
    device: torch.device | None = None,
    cache_dir: str | Path | None = None,
) -> ImageModel:
    """An official ImageNet BagNet-q with weights from a local file or a URL (hash-verified).

    The official files are plain state_dicts with the 321 official keys; a ``{'state_dict': ...}``
    wrapper and a ``module.`` prefix (DataParallel) are accepted too.
    """
    from attrbench.models.bagnet import BagNet

    source = str(weights)
    if urllib.parse.urlparse(source).scheme in ("http", "https", "file"):
        path = download_verified(source, cache_dir=cache_dir)
    else:
        path = Path(source)
    state = _torch_load(path)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state_dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    net = BagNet(q, num_classes=1000)
    _load_state_dict_checked(net, state, source=str(path))
    spec = ModelSpec(
        name=f"bagnet{q}-imagenet",
        input_size=(224, 224),
        num_outputs=1000,
        cam_layer="net.layer4",
        cam_layers=("net.layer2", "net.layer3", "net.layer4"),
        receptive_field=q,
    )
    return ImageModel(net, spec=spec).eval().to(device or torch.device("cpu"))


def load_model(
    name: str,
    *,
    device: torch.device | None = None,
    weights: str | Path | None = None,
    model_args: dict[str, Any] | None = None,
) -> ImageModel:
    """Resolve a model name (see the module docstring) to an eval-mode :class:`ImageModel`.

    ``weights`` and ``model_args`` reach a ``module:factory`` as keyword arguments
    (:func:`attrbench.models.factory.build_from_factory`); other models take no ``model_args``.
    """
    device = device or torch.device("cpu")
    if model_args and ":" not in name:
        raise OptionError(f"model {name!r} takes no --model-arg; model arguments reach a module:factory only")
    shipped = _shipped()
    if name in shipped:
        return load_checkpoint(shipped[name], device=device)
    if name in OFFICIAL_BAGNETS:
        q, file = OFFICIAL_BAGNETS[name]
        if weights is None:
            raise CheckpointError(
                f"{name} needs its official weights: pass weights=PATH (or --weights PATH) to a local copy of "
                f"{file}, or weights=URL, e.g. {OFFICIAL_BASE_URL + file} (nothing is downloaded unless asked)"
            )
        return load_official_bagnet(q, weights=weights, device=device)
    if name.endswith((".pt", ".pth", ".tar")) or os.sep in name:
        return load_checkpoint(name, device=device)
    if ":" in name:
        from attrbench.models.factory import build_from_factory

        return build_from_factory(name, weights=None if weights is None else str(weights), model_args=model_args,
                                  device=device)  # fmt: skip
    raise _registry().unknown(name)
