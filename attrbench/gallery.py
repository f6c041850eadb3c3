"""Heatmap gallery: image | ground truth | each method's map, for chosen samples of a run.

Runs store records and curves, not maps (a map per sample and method would dwarf the records).
The gallery therefore *recomputes* the maps from the run's ``config.json``, opened as the runner
opens it (:meth:`attrbench.runspec.RunConfig.from_dict`, :class:`attrbench.context.RunContext`):
the same model, dataset split (with the track's dataset options), samples, track, methods (their
specs with options, e.g. ``gradcam[layer=net.layer3]``) and post-processing. The chosen samples are explained together as one
batch after seeding torch, numpy and random with the runner's unit seed for (seed, method, batch 0)
(:func:`attrbench.runspec.unit_seed`), so the
gallery is deterministic; deterministic methods reproduce the run's maps exactly, stochastic
ones draw from their own seeded generators.

The model is rebuilt from what the run stored (``model_source``: the name, checkpoint path or
``module:factory`` the run was given; ``weights``; ``model_args``). A shipped name or a checkpoint
path is reopened as it is; a ``module:factory`` is code, and a file never names code to import
(:func:`attrbench.baseline_schema.refuse_code_references`): the user passes it again
(``report --model mymodel:make``), and the stored weights and arguments reach it.

Columns: the image (object-mask contour when the dataset has masks; labelled with the class name
from the dataset, e.g. CUB's ``classes.txt`` or class folders, else from ``ModelSpec.class_names``,
else "class <c>"), the ground truth (BagNets: the exact patch contributions
g_p = (l_p(x) - b_c) / N spread over each patch's receptive field,
:func:`attrbench.ground_truth.patches_to_pixels`), then one column per method. Each map is shown
on a diverging scale symmetric about 0 (red positive, blue negative) from -s to s, with s the
99th percentile of its own |values| (:data:`SCALE_PERCENTILE`; values beyond saturate), because
methods differ in units and gradient maps have a few extreme pixels that would make a
max-scaled map look empty; a map whose percentile is 0 falls back to its max |value|.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from attrbench.errors import DataError, OptionError

__all__ = ["SCALE_PERCENTILE", "GalleryMaps", "class_names", "compute_gallery", "gallery_figure", "map_scale",
           "rebuild_model"]

#: each map is scaled to this percentile of its |values| (module docstring).
SCALE_PERCENTILE = 99.0


class GalleryMaps:
    """Recomputed maps for a gallery.

    Attributes:
        ids: sample ids (rows).
        images: (B, 3, H, W) in [0, 1].
        labels: (B,) target classes.
        masks: (B, 1, H, W) object masks or None.
        truth: (B, 1, H, W) ground-truth pixel map or None (model without ground truth).
        maps: method label -> (B, 1, H, W) post-processed map.
        class_names: names of the model's outputs (may be empty).
    """

    def __init__(self, *, ids: list[str], images: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor | None,
                 truth: torch.Tensor | None, maps: dict[str, torch.Tensor], class_names: Sequence[str]) -> None:
        self.ids, self.images, self.labels, self.masks = ids, images, labels, masks
        self.truth, self.maps, self.class_names = truth, maps, tuple(class_names)


@torch.no_grad()
def _truth(model: Any, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor | None:
    from attrbench.ground_truth import patch_truth, patches_to_pixels, receptive_field_of

    if not (model.spec.has_ground_truth and model.has_patch_logits):
        return None
    rf = receptive_field_of(model)
    grid = patch_truth(model, images, labels=labels, baseline=None)
    return patches_to_pixels(grid, rf=rf, size=tuple(images.shape[-2:]))


def compute_gallery(
    run: str | Path,
    *,
    samples: Sequence[str],
    device: str | None = None,
    data_root: str | None = None,
    model: str | None = None,
) -> GalleryMaps:
    """Recompute the maps of ``samples`` for every method of ``run`` (module docstring).

    Args:
        run: run directory.
        samples: sample ids (among the run's samples).
        device: device name (default: CUDA if available).
        data_root: overrides the run's data root (e.g. the data moved).
        model: overrides the run's model name, e.g. the checkpoint path the run was given (the
            config records the model's spec name, which only shipped models resolve by).
    """
    from attrbench.context import RunContext, seed_all
    from attrbench.results import load_run
    from attrbench.runspec import RunConfig, unit_seed

    if not samples:
        raise OptionError("choose at least one sample id for the gallery")
    cfg = load_run(run).config
    for key in ("model", "dataset", "methods"):
        if key not in cfg:
            raise DataError(f"{Path(run) / 'config.json'} lacks {key!r}; cannot recompute the gallery")
    model = rebuild_model(cfg, model=model, path=Path(run) / "config.json")
    overrides = {k: v for k, v in (("data_root", data_root), ("model", model)) if v is not None}
    ctx = RunContext.open(RunConfig.from_dict(cfg, device=device, progress=False, **overrides))
    batch = ctx.find_samples(list(samples))
    target = ctx.track.make_target(model=ctx.model, batch=batch)
    size = tuple(batch.images.shape[-2:])
    maps: dict[str, torch.Tensor] = {}
    for method in ctx.methods:
        seed_all(unit_seed(ctx.config.seed, method.label, 0))
        raw = method.instance(batch.images, target=target).detach()
        with torch.no_grad():
            maps[method.label] = ctx.postprocess_for(method)(raw, size=size, info=method.cls.info, rf=ctx.rf).cpu()
    net = ctx.model
    return GalleryMaps(
        ids=list(batch.ids), images=batch.images.cpu(), labels=batch.labels.cpu(),
        masks=None if batch.masks is None else batch.masks.cpu(),
        truth=None if (t := _truth(net, batch.images, batch.labels)) is None else t.cpu(),
        maps=maps, class_names=class_names(ctx.dataset, net.spec.class_names),
    )


def rebuild_model(cfg: dict[str, Any], *, model: str | None, path: Path) -> str | None:
    """The model to reopen a stored run with: the user's ``model``, else the stored ``model_source``.

    Raises:
        DataError: the run was given a ``module:factory`` and the user did not pass it (``--model``).
    """
    if model is not None:
        return model
    source = cfg.get("model_source")
    if not isinstance(source, str) or source == cfg.get("model"):
        return None  # a shipped name, or a run written before model_source existed
    from attrbench.baseline_schema import code_references, refuse_code_references

    if source.split(".", 1)[0].split(":", 1)[0] != "attrbench" and any(True for _ in code_references(source)):
        try:
            refuse_code_references({"model_source": source}, path=path)
        except DataError as exc:
            raise DataError(f"{exc}; the run's model was built by {source!r}: pass --model {source} "
                            "to rebuild it (its stored weights and model_args are used)") from None
    return source


def class_names(dataset: Any, model_names: Sequence[str]) -> tuple[str, ...]:
    """Names of the classes: the dataset's (class folders, ``classes.txt``) unless they are bare
    numbers (a labels.csv), else the model's ``ModelSpec.class_names`` (may be empty)."""
    names = tuple(getattr(dataset, "class_names", ()) or ())
    if names and not all(str(n).isdigit() for n in names):
        return names
    return tuple(model_names)


def map_scale(m: torch.Tensor, *, percentile: float = SCALE_PERCENTILE) -> float:
    """s for a map shown on [-s, s]: the ``percentile`` of |m| (> 0), else max |m|, else 1."""
    a = m.detach().double().abs().flatten()
    if a.numel() == 0:
        return 1.0
    s = float(torch.quantile(a, percentile / 100.0))
    if not s > 0:
        s = float(a.max())
    return s if s > 0 else 1.0


def _show_map(ax: Any, m: torch.Tensor, image: torch.Tensor) -> Any:
    m = m.double()
    vmax = map_scale(m)
    ax.imshow(image.permute(1, 2, 0).mean(dim=2).numpy(), cmap="gray", alpha=0.35)
    return ax.imshow(m.numpy(), cmap="RdBu_r", vmin=-vmax, vmax=vmax, alpha=0.85)


def gallery_figure(
    run: str | Path,
    *,
    samples: Sequence[str],
    device: str | None = None,
    data_root: str | None = None,
    model: str | None = None,
    maps: GalleryMaps | None = None,
    max_columns: int = 10,
) -> Figure:
    """The gallery figure (rows: samples; columns: image, ground truth, methods); see :func:`compute_gallery`.

    With more than ``max_columns`` panels per sample, each sample's panels wrap onto further rows.
    """
    if max_columns < 2:
        raise OptionError(f"max_columns must be >= 2, got {max_columns}")
    g = maps if maps is not None else compute_gallery(run, samples=samples, device=device, data_root=data_root,
                                                      model=model)
    columns = ["image"] + (["ground truth"] if g.truth is not None else []) + list(g.maps)
    # at most `max_columns` panels side by side: a long method list wraps onto further rows per sample
    width = min(len(columns), max_columns)
    per_sample = -(-len(columns) // width)
    rows = len(g.ids) * per_sample
    fig = Figure(figsize=(1.9 * width, 2.05 * rows + 0.5))  # no pyplot: no global state, no window
    axes = fig.subplots(rows, width, squeeze=False)
    for ax in axes.flat:
        ax.set_visible(False)
    for i, sid in enumerate(g.ids):
        image = g.images[i].clamp(0, 1).double()
        label = int(g.labels[i])
        cname = g.class_names[label] if label < len(g.class_names) else f"class {label}"
        for j, col in enumerate(columns):
            ax = axes[i * per_sample + j // width][j % width]
            ax.set_visible(True)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == "image":
                ax.imshow(image.permute(1, 2, 0).numpy())
                if g.masks is not None:
                    ax.contour(g.masks[i, 0].double().numpy(), levels=[0.5], colors="yellow", linewidths=0.8)
                short = Path(sid).name  # ids may be relative paths; the file name identifies the image
                short = short if len(short) <= 24 else "…" + short[-23:]
                ax.set_ylabel(short, fontsize=7)
                ax.set_xlabel(cname if len(cname) <= 30 else cname[:29] + "…", fontsize=6)
            elif col == "ground truth":
                _show_map(ax, g.truth[i, 0], image)  # type: ignore[index]
            else:
                _show_map(ax, g.maps[col][i, 0], image)
            if i == 0 or per_sample > 1:  # wrapped rows hold other methods: name every panel
                ax.set_title(col, fontsize=9)
    fig.suptitle(f"{Path(run).name}: maps recomputed from the run config; each map scaled to the "
                 f"{SCALE_PERCENTILE:g}th percentile of its |values| (red +, blue −)", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.25 / fig.get_figheight()))  # keep the first titles below the suptitle
    return fig
