"""The bag-of-parts ceiling: exact enumeration against brute-force Bayes, hand-computed cases,
visibility by construction, and the replay against the generator's own files."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter, defaultdict
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attrbench.cli import main as cli_main
from attrbench.datasets import synthbirds as sb
from attrbench.datasets import synthbirds_ceiling as sc
from attrbench.datasets._birddraw import BirdAttributes, LoosePart, Scene, _Pose, render_scene
from attrbench.errors import OptionError

A = BirdAttributes(cap="red", beak="cone", wing="plain", tail="fan", crest="none")
B = BirdAttributes(cap="yellow", beak="cone", wing="plain", tail="fan", crest="crest")


def _brute_force(designs: list[BirdAttributes], *, head: str, loose_counts: tuple[int, ...]) -> Fraction:
    """Bayes accuracy sum_bag max_c P(c, bag), over every ordered sequence of loose parts.

    Independent of the product rule: the joint probability of each bag is accumulated directly.
    """
    outcomes = sc.loose_outcomes(head=head)
    joint: dict[tuple, list[Fraction]] = defaultdict(lambda: [Fraction(0)] * len(designs))
    for n in loose_counts:
        for seq in itertools.product(range(len(outcomes)), repeat=n):
            p = Fraction(1, len(loose_counts) * len(designs)) * math.prod(outcomes[k][1] for k in seq)
            for c, d in enumerate(designs):
                items = list(sc.bird_items(d, head=head)) + [i for k in seq for i in outcomes[k][0]]
                joint[tuple(sorted(items, key=repr))][c] += p
    return sum((max(row) for row in joint.values()), Fraction(0))


def test_loose_outcomes_are_a_distribution() -> None:
    for head in sc.HEAD_MODELS:
        rows = sc.loose_outcomes(head=head)
        assert len(rows) == 15 and sum(p for _, p in rows) == 1
    assert sc.loose_outcomes(head="separate")[-1][0] == (("cap", "blue"), ("crest", "crest"))


@pytest.mark.parametrize("head", sc.HEAD_MODELS)
def test_exact_equals_brute_force_bayes(head: str) -> None:
    designs = sb.class_attributes(3)
    exact = sc.exact_ceiling(designs, head=head, loose_counts=(1, 2))
    assert exact[-1] == _brute_force(designs, head=head, loose_counts=(1, 2))
    assert exact[1] == _brute_force(designs, head=head, loose_counts=(1,))


@pytest.mark.parametrize("head", sc.HEAD_MODELS)
def test_two_classes_differing_in_the_head_by_hand(head: str) -> None:
    # A and B differ only in cap colour and crest. One loose part: B becomes possible for a scene of
    # A only if the loose part is a yellow crested cap (probability 1/4 * 1/6), and then A and B tie
    # (credit 1/2); symmetrically for B. Accuracy 1 - 1/24 * 1/2 = 47/48 under both bag models.
    assert sc.exact_ceiling([A, B], head=head, loose_counts=(1,))[1] == Fraction(47, 48)
    assert sc.exact_ceiling([A], head=head)[-1] == 1


def test_separate_heads_lose_the_pairing() -> None:
    # Bird A with a yellow uncrested cap and two blue crested caps: read separately, B's cap colour
    # and crest occur 1 and 2 times like A's (red 1, uncrested 2): a tie; read as heads, no yellow
    # crested head is in the bag, so A wins.
    caps = (("yellow", "none"), ("blue", "crest"), ("blue", "crest"))
    loose = [("cap", BirdAttributes(cap, None, None, None, crest)) for cap, crest in caps]  # type: ignore[arg-type]
    for head, credit in (("paired", 1), ("separate", Fraction(1, 2))):
        bag = Counter(sc.bird_items(A, head=head))
        for kind, attrs in loose:
            bag.update(sc.loose_items(kind, attrs, head=head))
        assert sc.bayes_credit(bag, [A, B], 0, head=head) == credit
    with pytest.raises(OptionError, match="head must be one of"):
        sc.bird_items(A, head="pairs")


def _scene(mask_value: int, parts: tuple[LoosePart, ...], size: int = 97) -> Scene:
    mask = Image.fromarray(np.full((size, size), mask_value, np.uint8), "L")
    return Scene(image=Image.new("RGB", (size, size)), mask=mask, bbox=None, parts=[], loose_parts=parts)


def _part(kind: str, x: float, y: float) -> LoosePart:
    return LoosePart(kind=kind, attrs=A, pose=_Pose(x=x, y=y, scale=1.0, angle=0.0, mirror=False), body=(9, 9, 9), beak=(9, 9, 9))


def test_visibility_by_construction() -> None:
    centre, outside = _part("wing", 48.0, 48.0), _part("tail", -15.0, 48.0)  # tail spans x in [-28, -8]
    assert sc.loose_visibility(_scene(0, (centre, outside))) == pytest.approx([1.0, 0.0], abs=1e-12)
    assert sc.loose_visibility(_scene(255, (centre,))) == [0.0]  # under the bird
    # the same cap twice: the later one hides the earlier one except where soft (anti-aliased) edge
    # pixels of both overlap, c * (1 - c) > 0 only on the outline
    earlier, later = sc.loose_visibility(_scene(0, (_part("cap", 40.0, 50.0), _part("cap", 40.0, 50.0))))
    assert 0.0 < earlier < 0.1 and later == pytest.approx(1.0, abs=1e-12)
    half = sc.loose_visibility(_scene(0, (_part("wing", 0.0, 48.0),)))[0]
    assert 0.4 < half < 0.6  # the wing patch is an ellipse centred on the left edge
    scene = _scene(0, (centre, outside))
    assert sc.bag_of_scene(scene, B, min_visible=0.5)[("wing", "plain")] == 2
    assert sc.bag_of_scene(scene, B, min_visible=0.5)[("tail", "fan")] == 1
    assert sc.bag_of_scene(scene, B)[("tail", "fan")] == 2


def test_replay_uses_the_generators_scenes(tmp_path: Path) -> None:
    root = sb.generate(tmp_path / "birds", num_classes=2, train_per_class=1, test_per_class=2)
    designs = sb.class_attributes(2)
    for split, index, stem in (("test", 1, "_t0002"), ("train", 0, "_0001")):
        rng = np.random.default_rng(sb.scene_seed(seed=0, class_index=1, index=index, split=split))
        scene = render_scene(rng, designs[1], size=sb.DEFAULT_SCENE_SIZE)
        (png,) = (root / "segmentations").glob(f"002.*/*{stem}.png")
        with Image.open(png) as written:
            assert np.array_equal(np.asarray(written), np.asarray(scene.mask))
        assert 2 <= len(scene.loose_parts) <= 4
    res = sc.replay(designs=designs, seed=0, split="test", per_class=2, size=sb.DEFAULT_SCENE_SIZE, min_visible=(0.0, 0.5))
    assert set(res["credits"]) == {(h, t) for h in sc.HEAD_MODELS for t in (0.0, 0.5)}
    assert all(v.shape == (4,) and ((v >= 0) & (v <= 1)).all() for v in res["credits"].values())
    assert res["bird_parts_out"] == 0 and ((res["visible"] >= 0) & (res["visible"] <= 1)).all()
    with pytest.raises(OptionError, match="split must be"):
        sb.scene_seed(seed=0, class_index=0, index=0, split="val")


def test_experiment_command_writes_json_and_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["experiment", "synthbirds-ceiling", "--num-classes", "2", "--test-per-class", "1",
            "--sample-per-class", "2", "--min-visible", "0.5", "--out", str(tmp_path)]  # fmt: skip
    assert cli_main(argv) == 0
    report = json.loads((tmp_path / "synthbirds_ceiling.json").read_text())
    exact = sc.exact_ceiling(sb.class_attributes(2), head="paired")
    assert report["exact"]["paired"]["all"]["value"] == float(exact[-1])
    assert report["monte_carlo"]["large_sample"]["scenes"] == 4
    assert set(report["monte_carlo"]["test_split"]["accuracy"]["separate"]) == {"0.0", "0.5"}
    md = (tmp_path / "synthbirds_ceiling.md").read_text()
    assert "attrbench experiment synthbirds-ceiling --num-classes 2" in md and "| 0.5 |" in md
    capsys.readouterr()
    assert cli_main([*argv[:2], "--min-visible", "0.5,x"]) == 2
    assert "--min-visible" in capsys.readouterr().err
