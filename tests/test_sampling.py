"""Samples drawn by seed, stratified over classes; recorded in config.json; kept on resume; --target."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch

from attrbench.api import Sample
from attrbench.errors import DataError, OptionError
from attrbench.runner import evaluate
from attrbench.sampling import check_choices, indices_of, sample_ids, select_indices
from attrbench.testing.toys import toy_model, toy_samples


class _Labelled:
    """20 classes x 10 items in class order (the layout of the shipped datasets), no image loading."""

    def __init__(self) -> None:
        self.labels = [c for c in range(20) for _ in range(10)]
        self.ids = [f"c{c:02d}_{k}" for c in range(20) for k in range(10)]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Sample:
        raise AssertionError("sampling must read labels and ids without loading items")


def test_stratified_draw_by_seed() -> None:
    data = _Labelled()
    a = select_indices(data, n=40, sampling="stratified", seed=0)
    assert Counter(data.labels[i] for i in a) == {c: 2 for c in range(20)}  # 2 per class
    assert len(set(a)) == 40
    # scored in draw order: every prefix is stratified (randomisation's first k samples are k classes)
    assert len({data.labels[i] for i in a[:20]}) == 20
    assert select_indices(data, n=8, sampling="stratified", seed=0) == a[:8]
    assert select_indices(data, n=40, sampling="stratified", seed=0) == a  # same seed -> same ids
    b = select_indices(data, n=40, sampling="stratified", seed=1)
    assert sample_ids(data, b) != sample_ids(data, a)  # another seed -> other ids
    assert select_indices(data, n=40, sampling="first", seed=0) == list(range(40))  # classes 0..3 only
    odd = select_indices(data, n=30, sampling="stratified", seed=0)
    assert sorted(Counter(data.labels[i] for i in odd).values()) == [1] * 10 + [2] * 10
    assert indices_of(data, sample_ids(data, a)) == a
    with pytest.raises(DataError, match="no longer in the dataset"):
        indices_of(data, ["gone"])
    with pytest.raises(OptionError, match="--sampling"):
        check_choices(sampling="random", target="true")
    with pytest.raises(OptionError, match="--target"):
        check_choices(sampling="first", target="label")


def test_run_records_its_sample_ids_and_resume_keeps_them(tmp_path) -> None:
    samples = toy_samples(10)  # labels i % 5
    out = tmp_path / "run"
    df = evaluate(methods=["saliency"], model=toy_model(), dataset=samples, metrics=["runtime"], batch_size=5,
                  out=out, n_samples=5, seed=3)  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    assert config["sampling"] == "stratified" and config["target"] == "true"
    ids = config["sample_ids"]
    assert sorted(df.sample_id.unique()) == sorted(ids) and len(ids) == 5
    assert {samples[int(s[1:])].label for s in ids} == {0, 1, 2, 3, 4}  # one per class
    # resume with the dataset in another order: the recorded samples are scored, not a new draw
    shuffled = samples[5:] + samples[:5]
    assert sample_ids(shuffled, select_indices(shuffled, n=5, sampling="stratified", seed=3)) != ids
    for part in (out / "shards").glob("*"):  # lose the stored unit: the resume recomputes it
        part.unlink()
    resumed = evaluate(methods=["saliency"], model=toy_model(), dataset=shuffled, metrics=["runtime"], batch_size=5,
                       out=out, n_samples=5, seed=3, resume=True)  # fmt: skip
    assert sorted(resumed.sample_id.unique()) == sorted(ids)
    assert sorted(json.loads((out / "config.json").read_text())["sample_ids"]) == sorted(ids)


def test_target_predicted_explains_the_top_class(tmp_path) -> None:
    from attrbench.context import RunContext
    from attrbench.runspec import RunConfig
    from attrbench.api import collate

    model = toy_model()
    samples = toy_samples(6)
    ctx = RunContext.open(RunConfig(methods=["saliency"], metrics=["runtime"], n_samples=6, target="predicted"),
                          model=model, dataset=samples)  # fmt: skip
    batch = ctx.prepare_batch(collate(samples))
    with torch.no_grad():
        assert torch.equal(batch.labels, model(batch.images).argmax(1))
    true = RunContext.open(RunConfig(methods=["saliency"], metrics=["runtime"], n_samples=6), model=model, dataset=samples)
    assert torch.equal(true.prepare_batch(collate(samples)).labels, torch.tensor([s.label for s in samples]))


def test_configs_stored_before_sampling_existed_reopen_with_the_first_items() -> None:
    from attrbench.runspec import RunConfig

    old = {"methods": ["ig"], "n_samples": 4, "seed": 0}
    assert RunConfig.from_dict(old).sampling == "first"
    assert RunConfig.from_dict({**old, "sampling": "stratified"}).sampling == "stratified"
    assert RunConfig(methods=["ig"]).sampling == "stratified"
