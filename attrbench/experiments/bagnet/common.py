"""Shared set-up of the BagNet-paper experiments: models, one seeded image sample, logits.

Every ``attrbench experiment bagnet-*`` command takes the same data and model options
(:func:`attrbench.experiments.bagnet.options.add_common_arguments`) and opens them with :func:`open_setup`:

* the models: BagNets (``--bagnets``, default ``bagnet9/17/33-<dataset>``) and comparison networks
  (``--comparison``, default ``resnet-<dataset>,vgg-<dataset>``); any name ``attrbench list models``
  knows, a checkpoint path or a ``pkg.module:factory``;
* the images: ``--n-images`` items of ``--split`` drawn by :func:`attrbench.sampling.select_indices`
  (stratified over classes, seeded by ``--seed``), loaded once per model input size read from each
  model's spec (models trained at different sizes see the same items, each at its own size);
* each model's logits on the sample, computed once (:meth:`Setup.logits`, :func:`model_rows`).

Default model lists (no ``--bagnets`` / ``--comparison`` given) keep only the names that exist
(``attrbench list models``): a dataset without shipped comparison networks runs with the BagNets
alone, and the skipped names are recorded in :attr:`Setup.notes`, which the experiment writes to
``notes.txt`` next to its table (:func:`attrbench.experiments.bagnet.outputs.finish`). An experiment
that needs a comparison network then writes only ``notes.txt`` (:func:`skip_without_comparison`).
Names given explicitly must exist.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from attrbench.errors import DataError, OptionError
from attrbench.experiments.bagnet.options import default_bagnets, default_comparison, split_names
from attrbench.models.common import ImageModel

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Setup", "batched_logits", "model_rows", "open_setup", "output_dir", "skip_without_comparison"]


@dataclass
class Setup:
    """Opened models and image sample of one experiment run.

    Attributes:
        dataset_name: registry name of the dataset.
        device: where everything runs.
        bagnets, comparison: label -> eval-mode model, in the order given.
        indices: dataset indices of the sample (ascending); ids, labels: theirs.
        num_classes: outputs of the models (all must agree).
        batch_size: images per forward.
        seed: the experiment seed.
        notes: one line per default model skipped because it does not exist.
    """

    dataset_name: str
    device: torch.device
    bagnets: dict[str, ImageModel]
    comparison: dict[str, ImageModel]
    indices: list[int]
    ids: list[str]
    labels: Tensor
    num_classes: int
    batch_size: int
    seed: int
    notes: list[str] = field(default_factory=list)
    _open: Any = None
    _images: dict[tuple[int, int], Tensor] = field(default_factory=dict)
    _logits: dict[str, Tensor] = field(default_factory=dict)

    @property
    def models(self) -> dict[str, ImageModel]:
        """BagNets then comparison networks."""
        return {**self.bagnets, **self.comparison}

    def images(self, model: ImageModel) -> Tensor:
        """The sample at ``model``'s input size and in its dtype: (n, 3, H, W) in [0, 1] on the device
        (loaded once per size)."""
        size = tuple(int(v) for v in model.spec.input_size)
        if size not in self._images:
            dataset = self._open(size)
            self._images[size] = torch.stack([dataset[i].image for i in self.indices]).to(self.device)  # type: ignore[index]
        dtype = next(model.parameters()).dtype
        return self._images[size].to(dtype)  # type: ignore[index]

    def logits(self, name: str) -> Tensor:
        """(n, C) outputs of model ``name`` on the sample, on the CPU (one pass per model and Setup)."""
        if name not in self._logits:
            model = self.models[name]
            self._logits[name] = batched_logits(model, self.images(model), batch_size=self.batch_size)
        return self._logits[name]


def _dataset_opener(*, name: str, split: str, root: str | None):  # -> Callable[[tuple[int, int]], Any]
    from attrbench.datasets import get_dataset

    cls = get_dataset(name)

    def open_at(size: tuple[int, int]) -> Any:
        kwargs: dict[str, Any] = {"split": split, "image_size": size}
        if root is not None:
            kwargs["root"] = root
        return cls(**kwargs)

    return open_at


def _load_models(names: list[str], *, device: torch.device) -> dict[str, ImageModel]:
    from attrbench.models.zoo import load_model

    models = {}
    for name in names:
        if name in models:
            raise OptionError(f"model {name!r} is given twice")
        models[name] = load_model(name, device=device).eval()
    return models


def _model_names(given: str | None, default: str, *, option: str, notes: list[str]) -> list[str]:
    """``given`` split, or the ``default`` names that exist (the others noted in ``notes``)."""
    from attrbench.models.zoo import list_models

    if given is not None:
        return split_names(given)
    names, known = split_names(default), set(list_models())
    missing = [n for n in names if n not in known]
    if missing:
        notes.append(f"{option}: default model(s) {', '.join(missing)} not shipped; skipped")
    return [n for n in names if n in known]


def open_setup(args: argparse.Namespace, *, need_bagnets: bool = True, need_comparison: bool = True) -> Setup:
    """Models and the seeded stratified image sample for ``args`` (:func:`add_common_arguments`).

    ``need_comparison``: an explicitly empty ``--comparison`` is an error; default comparison
    networks that are not shipped are skipped with a note (the experiment then calls
    :func:`skip_without_comparison`). ``need_comparison=False`` loads no comparison network.

    Raises:
        OptionError: a non-positive ``--n-images`` / ``--batch-size``, or a needed model list is empty.
        DataError: the models disagree on the number of classes, or the split is empty.
    """
    from attrbench.device import resolve_device
    from attrbench.sampling import sample_ids, select_indices

    if args.n_images < 1 or args.batch_size < 1:
        raise OptionError(f"--n-images and --batch-size must be positive, got {args.n_images} and {args.batch_size}")
    device = resolve_device(args.device)
    notes: list[str] = []
    bag_names = _model_names(args.bagnets, default_bagnets(args.dataset), option="--bagnets", notes=notes)
    cmp_names = (_model_names(args.comparison, default_comparison(args.dataset), option="--comparison", notes=notes)
                 if need_comparison else [])  # fmt: skip
    if need_bagnets and not bag_names:
        raise OptionError("--bagnets is empty (or no default BagNet is shipped); this experiment needs at least one")
    if need_comparison and not cmp_names and args.comparison is not None:
        raise OptionError("--comparison is empty; this experiment needs at least one comparison network")
    bagnets = _load_models(bag_names if need_bagnets else [], device=device)
    comparison = _load_models(cmp_names, device=device)
    for name, model in bagnets.items():
        if not model.has_patch_logits:
            raise OptionError(f"--bagnets: {name!r} has no patch logits (not a BagNet); give it in --comparison")
    classes = {name: int(m.spec.num_outputs) for name, m in {**bagnets, **comparison}.items()}
    if len(set(classes.values())) > 1:
        raise DataError(f"the models disagree on the number of classes: {classes}")
    opener = _dataset_opener(name=args.dataset, split=args.split, root=args.data_root)
    first = next(iter({**bagnets, **comparison}.values()))
    dataset = opener(tuple(int(v) for v in first.spec.input_size))
    if len(dataset) == 0:
        raise DataError(f"dataset {args.dataset!r} split {args.split!r} is empty")
    indices = sorted(select_indices(dataset, n=args.n_images, sampling="stratified", seed=args.seed))
    labels = torch.tensor([int(dataset[i].label) for i in indices], dtype=torch.long)
    setup = Setup(dataset_name=args.dataset, device=device, bagnets=bagnets, comparison=comparison,
                  indices=indices, ids=sample_ids(dataset, indices), labels=labels,
                  num_classes=next(iter(classes.values())), batch_size=args.batch_size, seed=args.seed,
                  notes=notes, _open=opener)  # fmt: skip
    setup._images[tuple(int(v) for v in first.spec.input_size)] = torch.stack(
        [dataset[i].image for i in indices]).to(device)  # fmt: skip
    return setup


@torch.no_grad()
def batched_logits(model: torch.nn.Module, images: Tensor, *, batch_size: int) -> Tensor:
    """Model outputs for ``images`` (n, 3, H, W) in chunks of ``batch_size``: (n, C) on the CPU."""
    if images.shape[0] == 0:
        raise DataError("no images to evaluate")
    return torch.cat([model(images[i : i + batch_size]).cpu() for i in range(0, images.shape[0], batch_size)])


def model_rows(setup: Setup, rows_of: Callable[[str, ImageModel, Tensor], list[dict]]) -> pd.DataFrame:
    """One table from ``rows_of(name, model, images)`` over every model (BagNets first), in order;
    ``images`` is the sample at the model's input size."""
    import pandas as pd

    rows: list[dict] = []
    for name, model in setup.models.items():
        rows += rows_of(name, model, setup.images(model))
    return pd.DataFrame(rows)


def skip_without_comparison(setup: Setup, *, out: Path) -> bool:
    """True (and ``notes.txt`` written into ``out``) when ``setup`` has no comparison network."""
    from attrbench.export import write_table

    if setup.comparison:
        return False
    notes = [*setup.notes, "skipped: this experiment needs a comparison network"]
    write_table("\n".join(notes) + "\n", out / "notes.txt")
    print("\n".join(notes))
    return True


def output_dir(path: str | Path) -> Path:
    """``path`` created (parents too)."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    return out
