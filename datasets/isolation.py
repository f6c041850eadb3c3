"""Per-sample failure isolation for data loading: one bad file fails one sample, not the run.

Datasets validate lazily: their constructors read index files and folder listings only, and a
missing, corrupt, empty or oversized file raises a :class:`SampleError` (a
:class:`~attrbench.errors.DataError` naming the file) when *that* sample is loaded.

The runner loads through :class:`IsolatingDataset` and :func:`collate_isolated`::

    loader = DataLoader(IsolatingDataset(subset), batch_size=..., collate_fn=collate_isolated)
    for batch, failed in loader:        # batch: Batch of the good samples, or None
        ...                              # failed: list[FailedSample] (index, sample_id, reason)

so a batch carries its good samples and the failed ones separately, with the reason to record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch.utils.data import Dataset

from attrbench.api import Batch, Sample, collate
from attrbench.errors import DataError

__all__ = ["FailedSample", "IsolatingDataset", "SampleError", "collate_isolated", "first_loading", "sample_id_of"]


class SampleError(DataError):
    """One sample of a dataset cannot be loaded (missing, corrupt or invalid file).

    Attributes:
        index: the sample's index in the dataset.
        sample_id: the sample's id (``dataset.ids[index]``).
    """

    def __init__(self, message: str, *, index: int, sample_id: str) -> None:
        super().__init__(message)
        self.index = index
        self.sample_id = sample_id


@dataclass(frozen=True)
class FailedSample:
    """A sample that could not be loaded: its index (in the wrapped dataset), id and one-line reason (naming the file)."""

    index: int
    sample_id: str
    reason: str


def sample_id_of(dataset: Any, index: int) -> str:
    """The id of sample ``index`` without loading it: ``dataset.ids[index]``, else ``"#<index>"``.

    A :class:`torch.utils.data.Subset` is followed to its dataset.
    """
    indices = getattr(dataset, "indices", None)
    inner = getattr(dataset, "dataset", None)
    if indices is not None and inner is not None:
        return sample_id_of(inner, int(indices[index]))
    ids = getattr(dataset, "ids", None)
    if isinstance(ids, Sequence) and 0 <= index < len(ids):
        return str(ids[index])
    return f"#{index}"


class IsolatingDataset(Dataset):
    """Wraps a dataset so that ``[i]`` returns the :class:`Sample` or a :class:`FailedSample`.

    Only :class:`DataError` (bad input data) is caught; any other exception is a bug and
    propagates with its traceback.

    Args:
        dataset: any map-style dataset yielding :class:`~attrbench.api.Sample`.
    """

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Sample | FailedSample:
        try:
            return self.dataset[index]
        except SampleError as exc:
            return FailedSample(index=index, sample_id=exc.sample_id, reason=str(exc))
        except DataError as exc:
            return FailedSample(index=index, sample_id=sample_id_of(self.dataset, index), reason=str(exc))


def collate_isolated(items: list[Sample | FailedSample]) -> tuple[Batch | None, list[FailedSample]]:
    """Collate the good samples of ``items``; return the failed ones beside them.

    Returns:
        (the :class:`Batch` of the samples that loaded, or None if none did; the failures in order).
    """
    good = [s for s in items if not isinstance(s, FailedSample)]
    failed = [s for s in items if isinstance(s, FailedSample)]
    return (collate(good) if good else None), failed


def first_loading(dataset: Any, *, limit: int) -> tuple[int, Sample]:
    """(index, sample) of the first of the first ``limit`` items of ``dataset`` that loads.

    Raises:
        DataError: none of them loads (the message gives the first reason).
    """
    isolating = IsolatingDataset(dataset)
    first_reason = ""
    for i in range(min(limit, len(isolating))):
        item = isolating[i]
        if not isinstance(item, FailedSample):
            return i, item
        first_reason = first_reason or item.reason
    raise DataError(f"none of the first {limit} samples can be loaded; the first fails with: {first_reason}")
