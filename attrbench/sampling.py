"""Which samples a run scores: drawn by seed, stratified over classes by default.

``RunConfig.sampling``:

    "stratified"  (default) the classes take turns in a seeded random order, each giving one of
                  its samples (drawn without replacement in a seeded random order) per turn, until
                  ``n`` samples are chosen: every class gets floor(n / C) or ceil(n / C) samples
                  while it has them (a class with fewer gives all it has, the others fill in).
                  Unknown labels (-1) form one stratum of their own.
    "first"       the first ``n`` items in dataset order (the behaviour before issue 10).

The chosen items are scored in the order they were drawn, so every prefix of a run is itself
stratified: the first C samples are C different classes, a metric that scores only the first k
samples (randomisation's ``max_samples``) sees k classes, and the draw for ``n`` is the first ``n``
of the draw for any larger ``n`` under the same seed. (Before this, the items were scored in dataset
order and the first 8 of 200 SynthBirds samples were all of one class.) The generator is
``numpy.random.default_rng([seed, 0x5A3D])``, so the same seed and dataset give the same ids and
another seed other ids; the run records the ids (``config.json``, ``sample_ids``) and a resumed run
scores the recorded ids (:func:`indices_of`).

``RunConfig.target``: "true" (explain the labelled class, default) or "predicted" (explain the
model's top class; :meth:`attrbench.context.RunContext.prepare_batch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from attrbench.errors import DataError, OptionError

__all__ = ["SAMPLINGS", "TARGETS", "check_choices", "indices_of", "labels_of", "sample_ids", "select_indices"]

SAMPLINGS: tuple[str, ...] = ("stratified", "first")
TARGETS: tuple[str, ...] = ("true", "predicted")


def check_choices(*, sampling: str, target: str) -> None:
    """Raise :class:`OptionError` for an unknown ``sampling`` or ``target`` (before anything loads)."""
    if sampling not in SAMPLINGS:
        raise OptionError(f"--sampling must be one of {', '.join(SAMPLINGS)}; got {sampling!r}")
    if target not in TARGETS:
        raise OptionError(f"--target must be one of {', '.join(TARGETS)}; got {target!r}")


def labels_of(dataset: Any) -> list[int]:
    """The label of every item: the dataset's ``labels`` list when it has one, else each item's ``label``
    (loading every item: a custom dataset without ``labels`` pays one pass)."""
    labels = getattr(dataset, "labels", None)
    if isinstance(labels, Sequence) and len(labels) == len(dataset):
        return [int(v) for v in labels]
    return [int(dataset[i].label) for i in range(len(dataset))]


def select_indices(dataset: Any, *, n: int, sampling: str, seed: int) -> list[int]:
    """Indices of the ``n`` items to score, in scoring order (module docstring); ``n`` <= len(dataset)."""
    total = len(dataset)
    n = min(int(n), total)
    if sampling == "first":
        return list(range(n))
    rng = np.random.default_rng([int(seed), 0x5A3D])
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels_of(dataset)):
        by_class.setdefault(label, []).append(i)
    queues = [list(rng.permutation(by_class[c])) for c in sorted(by_class)]
    queues = [queues[j] for j in rng.permutation(len(queues))]
    chosen: list[int] = []
    while len(chosen) < n:
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(int(queue.pop(0)))
    return chosen


def sample_ids(dataset: Any, indices: Sequence[int]) -> list[str]:
    """The ids of the items ``indices`` (the dataset's ``ids`` list when it has one, else each item's ``id``)."""
    ids = getattr(dataset, "ids", None)
    if isinstance(ids, Sequence) and len(ids) == len(dataset):
        return [str(ids[i]) for i in indices]
    return [str(dataset[i].id) for i in indices]


def indices_of(dataset: Any, ids: Sequence[str]) -> list[int]:
    """Indices of the items with ``ids``, in the order of ``ids`` (the run's scoring order), for a resumed run.

    Raises:
        DataError: an id is not in the dataset (the data changed since the run started).
    """
    where = {s: i for i, s in enumerate(sample_ids(dataset, range(len(dataset))))}
    missing = [s for s in ids if s not in where]
    if missing:
        raise DataError(f"cannot resume: the run's sample ids {missing[:5]} are no longer in the dataset")
    return [where[s] for s in ids]
