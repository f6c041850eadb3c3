"""Metric specifications are identities: the label of every value a metric spec produces.

A run may score one metric under several specifications (``deletion[fill=blur]`` and
``deletion[fill=mean,score=probability]``): their values differ in meaning (logit vs probability
scores) and must never be averaged together. Rules:

- every record carries its full specification in the ``metric_spec`` column (the canonical spec,
  :func:`attrbench.options.canonical_label`, e.g. ``"deletion[fill=blur]"``);
- when a metric appears under more than one specification, the value names of each spec *with
  options* get the options as a suffix, so they are distinct columns of every table:
  ``deletion_auc[fill=blur]``, ``deletion_auc[fill=mean,score=probability]`` (and curves
  ``deletion[fill=blur]``); the spec without options (the default spec) keeps the plain names;
- a metric given alone keeps plain names whatever its options (``deletion[steps=4]`` gives
  ``deletion_auc``; its spec is in ``metric_spec`` and ``config.json``);
- the same canonical spec twice is an error.

The suffix goes at the end of the name (``mprt_spearman@net.layer1[max_samples=2]``), so the
declared prefix is ``name.split("[")[0].split("@")[0]``.
"""

from __future__ import annotations

from collections import Counter

from attrbench.errors import OptionError
from attrbench.options import canonical_label

__all__ = ["qualified", "spec_suffixes"]


def spec_suffixes(labels: list[str]) -> list[str]:
    """The suffix of each metric spec's value names ("" or ``"[key=value,...]"``), in order (module docstring).

    Args:
        labels: the run's metric specs as given (``["gt", "deletion[fill=blur]", ...]``).

    Raises:
        OptionError: one specification given twice (after canonicalisation).
    """
    canon = [canonical_label(label) for label in labels]
    repeated = sorted(label for label, k in Counter(canon).items() if k > 1)
    if repeated:
        raise OptionError(f"--metrics: {', '.join(repeated)} is given twice; give each metric specification once")
    names = Counter(label.split("[", 1)[0] for label in canon)
    out = []
    for label in canon:
        name, sep, rest = label.partition("[")
        out.append(f"[{rest}" if sep and names[name] > 1 else "")
    return out


def qualified(name: str, suffix: str) -> str:
    """A value or curve name with its spec suffix: ``("deletion_auc", "[fill=blur]") -> "deletion_auc[fill=blur]"``."""
    return f"{name}{suffix}"
