"""How much do image parts interact? The BagNet paper's interaction test (Brendel & Bethge, ICLR 2019, eq. 1).

    attrbench experiment bagnet-interaction [--dataset synthbirds] [--n-images 60] [--squares 4,8,12,16,24,32]

The image is cut into q x q squares from the top-left corner (the last row and column of squares
may be cut by the border). Every second square of every second row (square rows and columns with
even index) is a perturbation site s; perturbing s replaces its pixels by their per-channel mean
(the square's DC value). For every image x, class c and site s:

    delta_s(x)_c  = f_c(x with s perturbed) - f_c(x)             (isolated effect)
    delta_S(x)_c  = f_c(x with all sites perturbed) - f_c(x)     (joint effect)

A model without interactions between the sites has delta_S = sum_s delta_s. The table reports the
Pearson correlation between sum_s delta_s and delta_S over all (image, class) pairs, and the mean of
the per-image correlations over classes with a bootstrap interval, per model and q; "receptive
field" is r for the BagNets and 0 for the comparison networks. Sites are q
pixels apart, so a correlation near 1 at q means parts q pixels apart barely interact.

A BagNet with receptive field r is exactly additive for q >= r - 1: a window of r pixels cannot
overlap two sites q pixels apart, so each patch logit is changed by at most one site and
f(x_S) - f(x) = (1/N) sum_p (l_p(x_S) - l_p(x)) = sum_s delta_s (tests: Pearson 1 within 1e-6 in
float32, equality in float64).

Outputs (``--out``, default results/bagnet/interaction): interaction.{csv,md,tex},
interaction.{png,pdf}, command.txt.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from attrbench.errors import OptionError
from attrbench.experiments.bagnet.options import add_common_arguments

if TYPE_CHECKING:  # torch and numpy load inside the functions: ``attrbench --help`` must stay light
    import numpy as np
    from torch import Tensor, nn

__all__ = ["add_arguments", "dc_replace", "interaction_effects", "main", "parse_sizes", "pearson", "perturbation_sites"]

DEFAULT_SQUARES = "8,12,16,24,32"


def perturbation_sites(*, height: int, width: int, q: int) -> list[tuple[int, int, int, int]]:
    """Boxes (row0, row1, col0, col1), end-exclusive, of the squares with even row and column index."""
    if q < 1:
        raise OptionError(f"--squares: a square side must be positive, got {q}")
    rows = [(r, min(r + q, height)) for r in range(0, height, 2 * q)]
    cols = [(c, min(c + q, width)) for c in range(0, width, 2 * q)]
    return [(r0, r1, c0, c1) for r0, r1 in rows for c0, c1 in cols]


def dc_replace(images: Tensor, box: tuple[int, int, int, int]) -> Tensor:
    """A copy of ``images`` (B, C, H, W) with ``box`` replaced by its per-image, per-channel mean."""
    r0, r1, c0, c1 = box
    out = images.clone()
    region = images[:, :, r0:r1, c0:c1]
    out[:, :, r0:r1, c0:c1] = region.mean(dim=(2, 3), keepdim=True)
    return out


def interaction_effects(model: nn.Module, images: Tensor, *, q: int, batch_size: int = 50,
                        base: Tensor | None = None) -> tuple[Tensor, Tensor]:  # fmt: skip
    """(sum of isolated effects, joint effect), each (n, C) float64 (module docstring).

    Args:
        model: maps (B, 3, H, W) -> (B, C).
        images: (n, 3, H, W).
        q: square side in pixels.
        batch_size: images per forward.
        base: (n, C) ``model(images)`` when already computed (saves one pass per q).
    """
    from attrbench.experiments.bagnet.common import batched_logits

    sites = perturbation_sites(height=images.shape[-2], width=images.shape[-1], q=q)
    base = (batched_logits(model, images, batch_size=batch_size) if base is None else base).double()
    isolated = base.new_zeros(base.shape)
    joint_images = images
    for box in sites:
        isolated += batched_logits(model, dc_replace(images, box), batch_size=batch_size).double() - base
        joint_images = dc_replace(joint_images, box)
    joint = batched_logits(model, joint_images, batch_size=batch_size).double() - base
    return isolated, joint


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally long vectors (float64; NaN when one is constant)."""
    import numpy as np

    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


def _row(model: str, q: int, n_sites: int, isolated: Tensor, joint: Tensor, *, side: int, seed: int, rf: int) -> dict:
    import numpy as np

    from attrbench.stats import bootstrap_ci

    per_image = np.array([pearson(a, b) for a, b in zip(isolated.numpy(), joint.numpy())])
    mean, low, high = bootstrap_ci(per_image, seed=seed)
    scale = float(joint.abs().max())
    return {"model": model, "receptive field": rf, "image (px)": side, "q (px)": q, "sites": n_sites, "images": int(joint.shape[0]),
            "pearson (pooled)": pearson(isolated.numpy(), joint.numpy()),
            "pearson per image (mean)": mean, "ci low": low, "ci high": high,
            "max |sum - joint| / max |joint|": float((isolated - joint).abs().max()) / scale if scale > 0 else 0.0}  # fmt: skip


def _figure(table, *, out) -> None:  # noqa: ANN001
    from attrbench.experiments.bagnet.outputs import figure, save_figure

    fig, axes = figure(size=(5.0, 3.4))
    ax = axes[0, 0]
    for model, group in table.groupby("model", sort=False):
        ax.plot(group["q (px)"], group["pearson (pooled)"], marker="o", label=model)
    ax.set_xlabel("square side q = distance between perturbed squares (px)")
    ax.set_ylabel("Pearson(sum of isolated, joint)")
    ax.set_title("Interaction of image parts (BagNet paper eq. 1)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out=out, name="interaction")


def parse_sizes(text: str, *, option: str) -> list[int]:
    """``"4,8,16"`` -> [4, 8, 16]; one clear error naming ``option`` for anything else."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise OptionError(f"{option} must be comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise OptionError(f"{option} needs positive sizes in pixels, got {text!r}")
    return values


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``attrbench experiment bagnet-interaction``."""
    add_common_arguments(p, n_images=60, out="results/bagnet/interaction")
    p.add_argument("--squares", default=DEFAULT_SQUARES, help=f"square sides q in pixels (default {DEFAULT_SQUARES})")


def main(args: argparse.Namespace) -> int:
    """Run the interaction test on every model and q; write the table and the figure."""
    from attrbench.experiments.bagnet.common import model_rows, open_setup, output_dir
    from attrbench.experiments.bagnet.outputs import finish

    squares = parse_sizes(args.squares, option="--squares")
    setup = open_setup(args)
    out = output_dir(args.out)

    def rows_of(name: str, model: nn.Module, images: Tensor) -> list[dict]:
        rows, rf = [], int(model.spec.receptive_field or 0) if name in setup.bagnets else 0
        for q in squares:
            isolated, joint = interaction_effects(model, images, q=q, batch_size=setup.batch_size,
                                                  base=setup.logits(name))  # fmt: skip
            n_sites = len(perturbation_sites(height=images.shape[-2], width=images.shape[-1], q=q))
            rows.append(_row(name, q, n_sites, isolated, joint, side=int(images.shape[-2]), seed=setup.seed, rf=rf))
        return rows

    return finish(model_rows(setup, rows_of), args=args, out=out, name="interaction", digits=4, notes=setup.notes,
                  draw=lambda t: _figure(t, out=out),
                  caption="Interaction test (BagNet paper eq. 1): Pearson correlation between the summed isolated "
                          "effects of DC-replaced squares and their joint effect, over (image, class) pairs.")  # fmt: skip
