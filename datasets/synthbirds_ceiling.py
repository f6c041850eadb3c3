"""The bag-of-parts ceiling of SynthBirds: how accurate can purely local part evidence be?

The ideal bag-of-parts classifier sees the multiset ("bag") of part values visible in a scene: the
bird's own beak, wing, tail and head (cap colour with or without a crest) and the 2-4 loose
look-alike parts of the background, without knowing which belong to the bird. Its accuracy under
the generator's distributions is the ceiling for a classifier of purely local evidence, such as a
BagNet with small patches. docs/synthbirds.md derives the decision rule; in short, with uniform
class priors and the loose parts drawn independently of the class (kind uniform over
:data:`~attrbench.datasets._birddraw.LOOSE_KINDS`, every attribute uniform), the likelihood of a
bag given class c is proportional to the product, over the bird's items of class c, of how often
that item occurs in the bag (zero if one is missing). The Bayes decision is the arg max of that
product; ties are broken uniformly at random, so a scene is worth ``1 / |ties|`` when the true
class is among the tied ones.

Two bag models (``head``): "paired" reads the cap colour and the crest as one part (the crest is
drawn on the cap in the cap's colour), "separate" as two independent parts (a weaker reader).

:func:`exact_ceiling` enumerates every loose-part multiset with its multinomial probability
(exact rational arithmetic), assuming every loose part is seen. :func:`scene_credits` replays the
generator's own scenes (:func:`attrbench.datasets._birddraw.render_scene`, the loose parts it drew)
and counts a loose part only if at least ``min_visible`` of its area is visible in the image
(inside the frame, not under the bird or a later loose part; :func:`loose_visibility`).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction

import numpy as np
from PIL import Image, ImageDraw

from attrbench.datasets._birddraw import (
    ATTRIBUTES, LOOSE_KINDS, PART_NAMES, SUPERSAMPLE, BirdAttributes, LoosePart, Scene, draw_loose_part, render_scene,
)  # fmt: skip
from attrbench.datasets.synthbirds import scene_seed
from attrbench.errors import OptionError

__all__ = [
    "HEAD_MODELS",
    "LOOSE_COUNTS",
    "bag_of_scene",
    "bayes_credit",
    "bird_items",
    "exact_ceiling",
    "loose_items",
    "loose_outcomes",
    "loose_visibility",
    "replay",
]

#: how the cap colour and the crest are read: as one part or as two.
HEAD_MODELS = ("paired", "separate")
#: the number of loose parts per scene, uniform over these values (``rng.integers(2, 5)``).
LOOSE_COUNTS = (2, 3, 4)
#: pixels of margin around the image when measuring how much of a loose part is out of frame.
_MARGIN = 32

Item = tuple[str, object]


def _check_head(head: str) -> None:
    if head not in HEAD_MODELS:
        raise OptionError(f"head must be one of {', '.join(HEAD_MODELS)}, got {head!r}")


def _head_items(attrs: BirdAttributes, head: str) -> tuple[Item, ...]:
    if head == "paired":
        return (("head", (attrs.cap, attrs.crest)),)
    return (("cap", attrs.cap), ("crest", attrs.crest))


def bird_items(attrs: BirdAttributes, *, head: str = "paired") -> tuple[Item, ...]:
    """The items a bird of ``attrs`` puts into the bag: beak, wing, tail and its head part(s)."""
    _check_head(head)
    return (("beak", attrs.beak), ("wing", attrs.wing), ("tail", attrs.tail), *_head_items(attrs, head))


def loose_items(kind: str, attrs: BirdAttributes, *, head: str = "paired") -> tuple[Item, ...]:
    """The items a loose part of ``kind`` shows: one attribute, or the head part(s) for a cap."""
    _check_head(head)
    if kind == "cap":
        return _head_items(attrs, head)
    return ((kind, getattr(attrs, kind)),)


def loose_outcomes(*, head: str = "paired") -> list[tuple[tuple[Item, ...], Fraction]]:
    """Every distinguishable loose part with its probability (kind uniform, then values uniform).

    Returns:
        (items, probability) rows; 3 + 3 + 3 + 6 = 15 rows summing to 1.
    """
    rows = []
    for kind in LOOSE_KINDS:
        shown = ("cap", "crest") if kind == "cap" else (kind,)
        for values in itertools.product(*(ATTRIBUTES[a] for a in shown)):
            p = Fraction(1, len(LOOSE_KINDS) * math.prod(len(ATTRIBUTES[a]) for a in shown))
            attrs = dict.fromkeys(ATTRIBUTES, None) | dict(zip(shown, values))
            rows.append((loose_items(kind, BirdAttributes(**attrs), head=head), p))  # type: ignore[arg-type]
    return rows


def bayes_credit(bag: Counter, designs: Sequence[BirdAttributes], true_class: int, *, head: str = "paired") -> Fraction:
    """Expected accuracy of the Bayes decision on one bag: ``1 / |ties|`` if the true class is among
    the classes of highest likelihood, else 0.

    Args:
        bag: item -> count (the bird's and the seen loose parts' items).
        designs: each class's attributes (uniform prior over them).
        true_class: index into ``designs``.
    """
    scores = [math.prod(bag[i] for i in bird_items(d, head=head)) for d in designs]
    best = max(scores)
    if best == 0 or scores[true_class] != best:
        return Fraction(0)
    return Fraction(1, scores.count(best))


def exact_ceiling(
    designs: Sequence[BirdAttributes], *, head: str = "paired", loose_counts: Sequence[int] = LOOSE_COUNTS
) -> dict[int, Fraction]:
    """Exact accuracy of the ideal bag-of-parts classifier when every loose part is seen.

    Enumerates every multiset of ``n`` loose parts (multinomial probability
    ``n! / prod(m_i!) * prod(p_i ** m_i)``) for each class, uniform over classes.

    Returns:
        n -> accuracy given n loose parts, plus key -1: the accuracy with n uniform over ``loose_counts``.
    """
    outcomes = loose_outcomes(head=head)
    per_n: dict[int, Fraction] = {}
    for n in loose_counts:
        total = Fraction(0)
        for combo in itertools.combinations_with_replacement(range(len(outcomes)), n):
            counts = Counter(combo)
            p = Fraction(math.factorial(n), math.prod(math.factorial(m) for m in counts.values()))
            p *= math.prod(outcomes[k][1] ** m for k, m in counts.items())
            loose = Counter(item for k in combo for item in outcomes[k][0])
            credit = sum(
                (bayes_credit(loose + Counter(bird_items(d, head=head)), designs, c, head=head) for c, d in enumerate(designs)),
                Fraction(0),
            )
            total += p * credit / len(designs)
        per_n[n] = total
    per_n[-1] = sum(per_n.values(), Fraction(0)) / len(loose_counts)
    return per_n


class _MaskDraw:
    """Draws every polygon as 255, whatever its colour (the coverage of a loose part)."""

    def __init__(self, draw: ImageDraw.ImageDraw) -> None:
        self.draw = draw

    def polygon(self, pts: list[tuple[float, float]], fill: object) -> None:  # noqa: ARG002
        self.draw.polygon(pts, fill=255)


def _coverage(part: LoosePart, size: int) -> np.ndarray:
    """Soft coverage (0..1) of one loose part on the image padded by ``_MARGIN`` on every side."""
    side = (size + 2 * _MARGIN) * SUPERSAMPLE
    canvas = Image.new("L", (side, side), 0)
    pose = replace(part.pose, x=part.pose.x + _MARGIN, y=part.pose.y + _MARGIN)
    draw_loose_part(_MaskDraw(ImageDraw.Draw(canvas)), replace(part, pose=pose))
    cov = np.asarray(canvas.reduce(SUPERSAMPLE), dtype=np.float64) / 255.0
    if cov[0].any() or cov[-1].any() or cov[:, 0].any() or cov[:, -1].any():
        raise RuntimeError(f"a loose {part.kind} reaches beyond the {_MARGIN}-pixel margin; raise _MARGIN")
    return cov


def loose_visibility(scene: Scene) -> list[float]:
    """Fraction of each loose part's drawn area that is visible in the scene's image.

    Visible: inside the frame, not under the bird (its soft mask) and not under a loose part drawn
    later (soft coverages multiply). The area counts the part's full shape, also out of frame.

    Returns:
        One fraction in [0, 1] per entry of ``scene.loose_parts``.
    """
    size = scene.image.size[0]
    inner = slice(_MARGIN, _MARGIN + size)
    covers = [_coverage(p, size) for p in scene.loose_parts]
    free = 1.0 - np.asarray(scene.mask, dtype=np.float64) / 255.0
    out: list[float] = []
    for i in reversed(range(len(covers))):
        seen = covers[i][inner, inner] * free
        out.append(min(1.0, float(seen.sum() / covers[i].sum())))  # summation order: 1 + 1e-16
        free = free * (1.0 - covers[i][inner, inner])
    return out[::-1]


def _bag(attrs: BirdAttributes, parts: Sequence[LoosePart], seen: Sequence[float], head: str, min_visible: float) -> Counter:
    bag = Counter(bird_items(attrs, head=head))
    for part, fraction in zip(parts, seen):
        if fraction >= min_visible:
            bag.update(loose_items(part.kind, part.attrs, head=head))
    return bag


def bag_of_scene(scene: Scene, attrs: BirdAttributes, *, head: str = "paired", min_visible: float = 0.0) -> Counter:
    """The bag the ideal classifier sees in ``scene``: the bird's items plus the items of every
    loose part with at least ``min_visible`` of its area visible (0: every loose part)."""
    seen = loose_visibility(scene) if min_visible > 0 else [1.0] * len(scene.loose_parts)
    return _bag(attrs, scene.loose_parts, seen, head, min_visible)


#: CUB parts that show the class attributes; a bird shows its wing on one side only.
_CLASS_PARTS = ("beak", "crown", "tail")


def replay(
    *,
    designs: Sequence[BirdAttributes],
    seed: int,
    split: str,
    per_class: int,
    size: int,
    min_visible: Sequence[float] = (0.0,),
    heads: Sequence[str] = HEAD_MODELS,
) -> dict[str, object]:
    """Monte Carlo on the generator's own scenes: the Bayes credit of every scene under each rule.

    Scene k of class c is rendered exactly as :func:`attrbench.datasets.synthbirds.generate` draws
    it (:func:`~attrbench.datasets.synthbirds.scene_seed`); its loose parts are the ones the
    generator drew.

    Returns:
        ``credits``: (head, min_visible) -> float64 array (num_classes * per_class,) of per-scene
        credits (scene order: class, then index); ``visible``: float64 array of every loose
        part's visible fraction; ``bird_parts_out``: scenes in which the bird's beak, crown, tail
        or near wing location lies outside the image.
    """
    credits = {(h, t): np.zeros(len(designs) * per_class) for h in heads for t in min_visible}
    visible: list[float] = []
    out = 0
    ids = [PART_NAMES.index(n) for n in _CLASS_PARTS]
    wings = (PART_NAMES.index("left wing"), PART_NAMES.index("right wing"))
    for c, attrs in enumerate(designs):
        for k in range(per_class):
            rng = np.random.default_rng(scene_seed(seed=seed, class_index=c, index=k, split=split))
            scene = render_scene(rng, attrs, size=size)
            seen = loose_visibility(scene)
            visible += seen
            rows = scene.parts
            out += int(not all(rows[i][2] for i in ids) or not any(rows[i][2] for i in wings))
            for (h, t), values in credits.items():
                bag = _bag(attrs, scene.loose_parts, seen, h, t)
                values[c * per_class + k] = float(bayes_credit(bag, designs, c, head=h))
    return {"credits": credits, "visible": np.asarray(visible), "bird_parts_out": out}
