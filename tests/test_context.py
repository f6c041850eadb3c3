"""RunContext and RunConfig: one set-up for run, gallery and check; the config stores and restores itself."""

from __future__ import annotations

import json

import pytest
import torch

from attrbench.context import RunContext
from attrbench.runspec import RunConfig
from attrbench.testing import toys
from attrbench.testing.split_toys import EMBED_MODEL, SPLIT_DATASET, SplitImages


def test_gallery_of_an_embedding_run_uses_the_runs_split(tmp_path, monkeypatch) -> None:
    from attrbench.gallery import compute_gallery
    from attrbench.results import load_run
    from attrbench.runner import run

    monkeypatch.setenv("ATTRBENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    run(RunConfig(methods=["mlgradcam[n_triplets=3]"], model=EMBED_MODEL, dataset=SPLIT_DATASET, track="embedding",
                  metrics=["runtime"], n_samples=4, sampling="first", batch_size=4, out=str(out), device="cpu", progress=False))
    ids = list(dict.fromkeys(load_run(out).records["sample_id"]))
    assert ids == [f"second_half/{i}" for i in range(4)]  # the track's protocol: unseen classes
    g = compute_gallery(out, samples=[ids[2], ids[0]], device="cpu")
    assert g.ids == [ids[2], ids[0]]
    expected = SplitImages(classes="second_half")
    torch.testing.assert_close(g.images, torch.stack([expected[2].image, expected[0].image]).double(), rtol=0, atol=0)
    assert g.maps["mlgradcam[n_triplets=3]"].shape == (2, 1, 32, 32)


def test_methods_are_built_once_after_the_track_is_prepared(monkeypatch) -> None:
    from attrbench.tracks import ClassificationTrack

    calls: list[str] = []
    prepare, kwargs = ClassificationTrack.prepare, ClassificationTrack.method_kwargs
    monkeypatch.setattr(ClassificationTrack, "prepare", lambda self, **kw: calls.append("prepare") or prepare(self, **kw))
    monkeypatch.setattr(ClassificationTrack, "method_kwargs",
                        lambda self, cls: calls.append(cls.info.name) or kwargs(self, cls))
    ctx = RunContext.open(RunConfig(methods=["saliency", "ig[n_steps=4]"], model=toys.MODEL, dataset=toys.DATASET,
                                    metrics=["gt"], n_samples=3, device="cpu"))
    assert calls == ["prepare", "saliency", "ig"]
    assert [m.label for m in ctx.methods] == ["saliency", "ig[n_steps=4]"]
    assert ctx.methods[1].instance.n_steps == 4 and ctx.methods[1].baseline == 0.0 and ctx.methods[0].baseline is None
    assert ctx.config.n_samples == 3 and ctx.config.model == toys.MODEL and ctx.config.metrics == ["gt"]


def test_prepare_batch_moves_casts_and_resolves_unknown_labels() -> None:
    from attrbench.api import Sample, collate

    model = toys.tiny_model()
    samples = [Sample(image=torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(i)), label=lab, id=f"s{i}")
               for i, lab in enumerate((2, -1))]  # fmt: skip
    ctx = RunContext.open(RunConfig(methods=["saliency"], metrics=["gt"], device="cpu"), model=model, dataset=samples)
    batch = ctx.prepare_batch(collate(samples))
    assert batch.images.dtype == torch.float64
    with torch.no_grad():
        top = model(batch.images[1:]).argmax(1)
    assert batch.labels.tolist() == [2, int(top)]


def test_run_config_round_trips_through_its_stored_form() -> None:
    from attrbench.postprocess import get_preset

    config = RunConfig(methods=["ig"], model="m", dataset="d", metrics=["gt"], n_samples=5, seed=3,
                       postprocess="captum", device="cpu", out="x", resume=True)  # fmt: skip
    stored = json.loads(json.dumps(config.fingerprint()))
    assert set(stored) == set(RunConfig.stored_fields())
    assert not {"device", "out", "resume", "progress"} & set(stored)
    back = RunConfig.from_dict(stored)
    assert back.fingerprint() == stored and back.device is None and back.resume is False
    pp = get_preset("captum").as_dict()
    restored = RunConfig.from_dict({**stored, "postprocess_config": pp, "run_id": "ignored"}, device="cpu")
    assert restored.postprocess.as_dict() == pp and restored.device == "cpu"


def test_unknown_evaluate_option_is_named() -> None:
    from attrbench.runner import evaluate

    with pytest.raises(TypeError, match="n_sample"):
        evaluate(methods=["ig"], n_sample=3)


def test_a_method_of_another_track_is_refused_before_anything_is_built() -> None:
    from attrbench.errors import DataError

    with pytest.raises(DataError, match="'mlgradcam' explains the embedding track"):
        RunContext.open(RunConfig(methods=["mlgradcam"], model=toys.MODEL, dataset=toys.DATASET, metrics=["gt"],
                                  device="cpu"))  # fmt: skip


def test_metric_applicability_is_one_decision_for_declared_and_sampled_data() -> None:
    from attrbench.api import Sample
    from attrbench.metrics import get_metric
    from attrbench.metrics.applicability import data_truth, inapplicable

    loc, gt = get_metric("localisation").info, get_metric("gt").info
    bare = [Sample(image=torch.zeros(3, 8, 8), label=0, id="a")]
    truth = data_truth(bare)
    assert (truth.masks, truth.bboxes) == (False, False)
    assert inapplicable(loc, model=None, truth=truth, dataset_name="d") == (
        "metric 'localisation' needs object masks; dataset 'd' has none")
    assert inapplicable(loc, model=None, truth=data_truth(toys.ToyImages()), dataset_name="d") is None
    assert inapplicable(gt, model=toys.tiny_model(), truth=truth, dataset_name="d") is None
