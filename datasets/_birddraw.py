"""Procedural drawing for SynthBirds: one bird with class-defining part attributes on a cluttered
background that carries class-irrelevant look-alike parts.

Geometry is defined in a canonical frame (bird facing right, origin at the body centre, units =
pixels of the final image at scale 1, y pointing down) and mapped to the canvas by a pose
(centre, scale, rotation, mirror). Everything is drawn at ``SUPERSAMPLE`` times the final size
and box-filtered down, so edges (and the object mask) are anti-aliased. All randomness comes from
the ``numpy.random.Generator`` passed in, in a fixed order that does not depend on whether the
bird is composited, so a scene rendered with and without its bird has the same background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "ATTRIBUTES",
    "PART_NAMES",
    "SUPERSAMPLE",
    "LOOSE_KINDS",
    "BirdAttributes",
    "LoosePart",
    "Scene",
    "draw_loose_part",
    "render_scene",
]

SUPERSAMPLE = 4

#: class-defining attributes and their values (all are mirror-invariant).
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "cap": ("red", "yellow", "blue"),  # colour of the crown/forehead cap
    "beak": ("cone", "needle", "hook"),
    "wing": ("plain", "barred", "spotted"),
    "tail": ("fan", "fork", "pointed"),
    "crest": ("none", "crest"),
}

#: kinds of the background's look-alike parts; a loose "cap" shows the cap colour and the crest.
LOOSE_KINDS = ("beak", "wing", "tail", "cap")

#: CUB-200-2011 part names, in part-id order (id = index + 1).
PART_NAMES: tuple[str, ...] = (
    "back", "beak", "belly", "breast", "crown", "forehead", "left eye", "left leg",
    "left wing", "nape", "right eye", "right leg", "right wing", "tail", "throat",
)  # fmt: skip

CAP_RGB = {"red": (205, 35, 35), "yellow": (238, 205, 35), "blue": (40, 85, 215)}
# Class-irrelevant colours: body, beak, legs (drawn at random for every bird).
BODY_RGB = ((125, 88, 58), (128, 128, 128), (108, 116, 62), (72, 82, 98), (182, 152, 112), (92, 70, 60))
BEAK_RGB = ((45, 45, 45), (226, 140, 40), (196, 186, 150))
LEG_RGB = ((50, 45, 45), (190, 140, 130))
MARK_RGB = (240, 236, 220)  # wing bars/spots
SCENE_RGB = ((70, 120, 60), (120, 150, 80), (150, 120, 80), (110, 140, 190), (170, 170, 160), (90, 90, 70))

Point = tuple[float, float]


@dataclass(frozen=True)
class BirdAttributes:
    """One value per entry of :data:`ATTRIBUTES`."""

    cap: str
    beak: str
    wing: str
    tail: str
    crest: str


@dataclass(frozen=True)
class Scene:
    """A rendered scene at the final size.

    Attributes:
        image: RGB image (with or without the bird).
        mask: 'L' soft bird mask (0..255), anti-aliased edge.
        bbox: (x, y, w, h) of the pixels where mask > 0, or None if the bird is out of view.
        parts: 15 rows (x, y, visible) in CUB part-id order; invisible rows are (0, 0, 0).
        loose_parts: the background's look-alike parts in drawing order (later ones on top).
    """

    image: Image.Image
    mask: Image.Image
    bbox: tuple[float, float, float, float] | None
    parts: list[tuple[float, float, int]]
    loose_parts: tuple[LoosePart, ...] = ()


# ---------------------------------------------------------------------------------------------
# Canonical shapes (bird facing right; beak base near x = 17, tail root near x = -11)
# ---------------------------------------------------------------------------------------------
def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 32) -> list[Point]:
    return [(cx + rx * math.cos(2 * math.pi * k / n), cy + ry * math.sin(2 * math.pi * k / n)) for k in range(n)]


def _arc(cx: float, cy: float, r: float, a0: float, a1: float, n: int = 16) -> list[Point]:
    """Points on a circle from angle a0 to a1 (degrees, image coordinates: 270 = up)."""
    angles = [math.radians(a0 + (a1 - a0) * k / (n - 1)) for k in range(n)]
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in angles]


BEAKS: dict[str, list[Point]] = {
    # short finch-like cone with the tip on the midline
    "cone": [(17.0, -12.0), (24.5, -9.0), (17.0, -6.0)],
    # long, thin, straight
    "needle": [(17.0, -11.2), (33.0, -9.4), (17.0, -7.2)],
    # raptor hook: curved top, tip bent down below the gape
    "hook": [(17.0, -12.5), (21.0, -12.6), (24.5, -10.8), (25.8, -7.2), (24.3, -3.2), (22.6, -6.4), (17.0, -6.0)],
}
TAILS: dict[str, list[Point]] = {
    "fan": [(-11.0, -3.5), (-23.0, -10.0), (-26.5, -1.0), (-23.0, 7.5), (-11.0, 2.5)],
    "fork": [(-11.0, -3.5), (-28.0, -8.5), (-20.5, -0.5), (-28.0, 6.5), (-11.0, 2.5)],
    "pointed": [(-11.0, -3.5), (-31.0, -0.3), (-11.0, 3.0)],
}
HEAD = (11.0, -9.0, 6.5)  # centre x, y, radius
BODY = (0.0, 0.0, 14.0, 9.5)
NECK = (8.0, -3.5, 7.0, 6.5)
WING = (-2.0, -1.0, 10.5, 5.0)
CREST: list[list[Point]] = [
    [(7.5, -13.0), (3.5, -21.5), (10.0, -14.8)],
    [(9.5, -14.6), (7.5, -23.0), (12.5, -15.4)],
    [(12.0, -15.4), (12.0, -22.0), (14.8, -14.6)],
]
#: legs as polylines (hip, ankle, toe); the near leg is the one on the side facing the viewer.
LEGS = {"far": [(1.0, 8.5), (0.0, 16.0), (-2.5, 16.5)], "near": [(4.5, 8.0), (5.5, 16.0), (8.0, 16.5)]}
LEG_WIDTH = 2.4

#: canonical part locations (facing right = the bird's right side faces the viewer).
PART_XY: dict[str, Point] = {
    "back": (-5.0, -6.5),
    "beak": (19.5, -9.2),
    "belly": (-1.0, 6.0),
    "breast": (9.0, 2.5),
    "crown": (11.0, -14.0),
    "forehead": (15.0, -12.5),
    "eye": (13.5, -10.0),
    "far leg": (0.4, 13.0),
    "near leg": (5.2, 13.0),
    "wing": (-2.0, -1.0),
    "nape": (6.5, -12.0),
    "tail": (-16.0, -0.3),
    "throat": (14.0, -4.5),
}


def _wing_marks(kind: str, cx: float, cy: float, rx: float, ry: float) -> list[list[Point]]:
    """Polygons of the wing pattern, inside the wing ellipse."""
    if kind == "barred":
        bars = []
        for t in (-0.45, 0.05, 0.55):
            x = cx + t * rx
            h = 0.85 * ry * math.sqrt(1.0 - t * t)
            bars.append([(x - 0.8, cy - h), (x + 0.8, cy - h), (x + 2.3, cy + h), (x + 0.7, cy + h)])
        return bars
    if kind == "spotted":
        spots = ((-0.55, -0.25), (-0.1, 0.35), (0.3, -0.3), (0.65, 0.2))
        return [_ellipse(cx + u * rx, cy + v * ry, 1.4, 1.4, 12) for u, v in spots]
    return []


# ---------------------------------------------------------------------------------------------
# Pose
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Pose:
    x: float
    y: float
    scale: float
    angle: float  # degrees, counter-clockwise on screen
    mirror: bool

    def map(self, pts: list[Point]) -> list[Point]:
        """Canonical points -> supersampled canvas coordinates."""
        c, s = math.cos(math.radians(self.angle)), math.sin(math.radians(self.angle))
        out = []
        for px, py in pts:
            px = -px if self.mirror else px
            # y points down, so a counter-clockwise screen rotation is (x c + y s, -x s + y c).
            rx, ry = px * c + py * s, -px * s + py * c
            out.append(((self.x + self.scale * rx) * SUPERSAMPLE, (self.y + self.scale * ry) * SUPERSAMPLE))
        return out


@dataclass(frozen=True)
class LoosePart:
    """A look-alike part on the background: all attributes drawn, only ``kind``'s shown."""

    kind: str  # one of LOOSE_KINDS
    attrs: BirdAttributes
    pose: _Pose
    body: tuple[int, int, int]
    beak: tuple[int, int, int]


def _jitter(rng: np.random.Generator, rgb: tuple[int, int, int], amount: int) -> tuple[int, int, int]:
    d = rng.integers(-amount, amount + 1, size=3)
    return tuple(int(v) for v in np.clip(np.array(rgb) + d, 0, 255))  # type: ignore[return-value]


def _pick(rng: np.random.Generator, options: tuple) -> object:
    return options[int(rng.integers(len(options)))]


def _shade(rgb: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    """Scale towards black (f < 1) or white (f > 1)."""
    if f <= 1.0:
        return tuple(int(v * f) for v in rgb)  # type: ignore[return-value]
    return tuple(int(v + (255 - v) * (f - 1.0)) for v in rgb)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Background with clutter and loose look-alike parts
# ---------------------------------------------------------------------------------------------
def _background(rng: np.random.Generator, size: int) -> tuple[Image.Image, tuple[LoosePart, ...]]:
    big = size * SUPERSAMPLE
    unit = SUPERSAMPLE * size / 96.0  # clutter sizes are given for 96-pixel images
    # smooth colour field: a random 4x4 mix of scene colours, upsampled bicubically
    base = np.array(SCENE_RGB, dtype=np.float64)[rng.integers(len(SCENE_RGB), size=(4, 4))]
    base += rng.normal(0.0, 18.0, size=base.shape)
    field = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    field = field.resize((size, size), Image.Resampling.BICUBIC)
    # nearest upsampling: the final box-filter reduction gives back this field where nothing is
    # drawn over it, and it is much cheaper than a bicubic resize to the supersampled canvas
    img = field.resize((big, big), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(img)
    # clutter: leaves (ellipses), twigs (lines) and stones (polygons)
    for _ in range(int(rng.integers(8, 15))):
        kind = int(rng.integers(3))
        colour = _jitter(rng, _pick(rng, SCENE_RGB + BODY_RGB), 30)  # type: ignore[arg-type]
        x, y = rng.uniform(0, big, size=2)
        if kind == 0:
            rx, ry = rng.uniform(2, 9, size=2) * unit
            draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=colour)
        elif kind == 1:
            x2, y2 = x + rng.uniform(-40, 40) * unit, y + rng.uniform(-40, 40) * unit
            draw.line([(x, y), (x2, y2)], fill=colour, width=max(1, round(int(rng.integers(1, 4)) * unit)))
        else:
            r = rng.uniform(3, 8) * unit
            angles = np.sort(rng.uniform(0, 2 * math.pi, size=5))
            draw.polygon([(x + r * math.cos(a), y + r * math.sin(a)) for a in angles], fill=colour)
    # distractors: loose beaks, wing patches, tails, caps/crests with attributes drawn independently
    # of the class, so that the background predicts nothing while looking like bird parts
    loose = []
    for _ in range(int(rng.integers(2, 5))):
        kind = LOOSE_KINDS[int(rng.integers(4))]
        attrs = BirdAttributes(*(str(_pick(rng, v)) for v in ATTRIBUTES.values()))
        pose = _Pose(
            x=float(rng.uniform(0, size)),
            y=float(rng.uniform(0, size)),
            scale=float(rng.uniform(0.8, 1.1) * size / 96.0),
            angle=float(rng.uniform(-40, 40)),
            mirror=bool(rng.integers(2)),
        )
        body = _jitter(rng, _pick(rng, BODY_RGB), 15)  # type: ignore[arg-type]
        beak = _jitter(rng, _pick(rng, BEAK_RGB), 15)  # type: ignore[arg-type]
        loose.append(LoosePart(kind=kind, attrs=attrs, pose=pose, body=body, beak=beak))
        draw_loose_part(draw, loose[-1])
    return img, tuple(loose)


def draw_loose_part(draw, part: LoosePart) -> None:  # noqa: ANN001  (ImageDraw or a mask adapter)
    """Draw one look-alike part (only its ``kind`` of attribute is shown) at its pose."""
    pose, attrs = part.pose, part.attrs
    if part.kind == "beak":  # shifted so that it sits around the pose centre
        draw.polygon(pose.map([(px - 20.0, py + 9.0) for px, py in BEAKS[attrs.beak]]), fill=part.beak)
    elif part.kind == "wing":  # a wing patch with a pattern
        _draw_wing(draw, pose, attrs.wing, _shade(part.body, 0.7), offset=(2.0, 1.0))
    elif part.kind == "tail":
        draw.polygon(pose.map([(px + 18.0, py) for px, py in TAILS[attrs.tail]]), fill=part.body)
    else:  # a cap (colour and crest) on a head-like blob
        _draw_cap(draw, pose, attrs, part.body, offset=(-11.0, 9.0))


def _draw_wing(draw: ImageDraw.ImageDraw, pose: _Pose, pattern: str, colour, offset: Point = (0.0, 0.0)) -> None:
    cx, cy, rx, ry = WING
    cx, cy = cx + offset[0], cy + offset[1]
    draw.polygon(pose.map(_ellipse(cx, cy, rx, ry)), fill=colour)
    mark = MARK_RGB
    for poly in _wing_marks(pattern, cx, cy, rx, ry):
        draw.polygon(pose.map(poly), fill=mark)


def _draw_cap(draw: ImageDraw.ImageDraw, pose: _Pose, attrs: BirdAttributes, body, offset: Point = (0.0, 0.0)) -> None:
    hx, hy, r = HEAD
    hx, hy = hx + offset[0], hy + offset[1]
    cap = CAP_RGB[attrs.cap]
    draw.polygon(pose.map(_ellipse(hx, hy, r, r)), fill=body)
    draw.polygon(pose.map(_arc(hx, hy, r, 195.0, 345.0)), fill=cap)
    if attrs.crest == "crest":
        for spike in CREST:
            draw.polygon(pose.map([(px + offset[0], py + offset[1]) for px, py in spike]), fill=cap)


# ---------------------------------------------------------------------------------------------
# The bird
# ---------------------------------------------------------------------------------------------
class _Both:
    """Draws each shape in colour on the image and as 255 on the mask, so that the mask is
    exactly the union of everything drawn for the bird."""

    def __init__(self, image: ImageDraw.ImageDraw, mask: ImageDraw.ImageDraw) -> None:
        self.image, self.mask = image, mask

    def polygon(self, pts: list[Point], fill) -> None:  # noqa: ANN001
        self.image.polygon(pts, fill=fill)
        self.mask.polygon(pts, fill=255)

    def line(self, pts: list[Point], fill, width: int) -> None:  # noqa: ANN001
        self.image.line(pts, fill=fill, width=width, joint="curve")
        self.mask.line(pts, fill=255, width=width, joint="curve")


def _draw_bird(draw: ImageDraw.ImageDraw, mask: ImageDraw.ImageDraw, pose: _Pose, attrs: BirdAttributes, rng) -> None:
    """Draw the bird in colour on ``draw`` and its silhouette (255) on ``mask``."""
    body = _jitter(rng, _pick(rng, BODY_RGB), 15)  # type: ignore[arg-type]
    beak = _jitter(rng, _pick(rng, BEAK_RGB), 15)  # type: ignore[arg-type]
    legs = _jitter(rng, _pick(rng, LEG_RGB), 10)  # type: ignore[arg-type]
    both = _Both(draw, mask)
    width = max(1, round(LEG_WIDTH * pose.scale * SUPERSAMPLE))
    for name in ("far", "near"):
        both.line(pose.map(LEGS[name]), fill=legs, width=width)
    both.polygon(pose.map(TAILS[attrs.tail]), fill=_shade(body, 0.8))
    both.polygon(pose.map(_ellipse(*BODY)), fill=body)
    both.polygon(pose.map(_ellipse(2.0, 4.0, 9.0, 4.5)), fill=_shade(body, 1.45))  # lighter belly
    both.polygon(pose.map(_ellipse(*NECK)), fill=body)
    _draw_wing(both, pose, attrs.wing, _shade(body, 0.7))  # type: ignore[arg-type]
    _draw_cap(both, pose, attrs, body)  # type: ignore[arg-type]
    both.polygon(pose.map(BEAKS[attrs.beak]), fill=beak)
    ex, ey = PART_XY["eye"]
    both.polygon(pose.map(_ellipse(ex, ey, 1.8, 1.8, 12)), fill=(235, 235, 235))
    both.polygon(pose.map(_ellipse(ex, ey, 1.2, 1.2, 12)), fill=(15, 15, 15))


def _part_rows(pose: _Pose, size: int) -> list[tuple[float, float, int]]:
    """CUB part rows (x, y, visible) for a bird at ``pose``.

    Facing right (no mirror) shows the bird's right side, so the right eye and wing are visible and
    the left ones are hidden behind the head and body; mirrored, the reverse. Parts outside the
    image are invisible.
    """
    near, far = ("left", "right") if pose.mirror else ("right", "left")
    canonical = {
        "back": "back", "beak": "beak", "belly": "belly", "breast": "breast", "crown": "crown",
        "forehead": "forehead", f"{near} eye": "eye", f"{near} wing": "wing", f"{near} leg": "near leg",
        f"{far} leg": "far leg", "nape": "nape", "tail": "tail", "throat": "throat",
    }  # fmt: skip
    rows = []
    for name in PART_NAMES:
        if name not in canonical:
            rows.append((0.0, 0.0, 0))
            continue
        ((x, y),) = pose.map([PART_XY[canonical[name]]])
        x, y = x / SUPERSAMPLE, y / SUPERSAMPLE
        if 0.0 <= x < size and 0.0 <= y < size:
            rows.append((x, y, 1))
        else:
            rows.append((0.0, 0.0, 0))
    return rows


def render_scene(rng: np.random.Generator, attrs: BirdAttributes, *, size: int, with_bird: bool = True) -> Scene:
    """Render one scene.

    The random stream is consumed identically whether or not the bird is composited, so
    ``with_bird=False`` gives the very same background (including under the bird) and the same
    annotations (mask, box and parts say where the bird would be).

    Args:
        rng: the scene's generator (e.g. ``np.random.default_rng([seed, class, index])``).
        attrs: the bird's class attributes.
        size: side of the square output image in pixels.
        with_bird: composite the bird (False: background only).
    """
    canvas, loose = _background(rng, size)
    pose = _Pose(
        x=float(rng.uniform(0.31, 0.69) * size),
        y=float(rng.uniform(0.36, 0.64) * size),
        scale=float(rng.uniform(0.8, 1.1) * size / 96.0),
        angle=float(rng.uniform(-15.0, 15.0)),
        mirror=bool(rng.integers(2)),
    )
    noise = rng.normal(0.0, 5.0, size=(size, size, 3))
    big = size * SUPERSAMPLE
    mask_big = Image.new("L", (big, big), 0)
    # without the bird it is still drawn (same random stream, same mask) but on a scratch canvas
    bird_canvas = canvas if with_bird else Image.new("RGB", (big, big))
    _draw_bird(ImageDraw.Draw(bird_canvas), ImageDraw.Draw(mask_big), pose, attrs, rng)
    pixels = np.asarray(canvas.reduce(SUPERSAMPLE), dtype=np.float64) + noise
    image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")
    mask = mask_big.reduce(SUPERSAMPLE)
    m = np.asarray(mask)
    rows, cols = np.nonzero(m.any(axis=1))[0], np.nonzero(m.any(axis=0))[0]
    bbox = None
    if rows.size:
        bbox = (float(cols[0]), float(rows[0]), float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1))
    return Scene(image=image, mask=mask, bbox=bbox, parts=_part_rows(pose, size), loose_parts=loose)
