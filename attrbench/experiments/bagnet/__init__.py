"""The BagNet paper's experiments on attrbench's models (Brendel & Bethge, ICLR 2019, arXiv 1904.00760).

One module per experiment, each an ``attrbench experiment bagnet-*`` subcommand with
``add_arguments(parser)`` and ``main(args) -> int`` (docs/bagnet-experiments.md):

    bagnet-interaction           interaction.py           eq. 1: are image parts additive?
    bagnet-logit-correlation     logit_correlation.py     BagNet vs comparison-network logits
    bagnet-scrambling            scrambling.py            accuracy on tile-shuffled images
    bagnet-errors                error_distribution.py    per-class accuracy and its correlation
    bagnet-spatial-sensitivity   spatial_sensitivity.py   masking 8 x 8 patches in heatmap order
    bagnet-predictive-patches    predictive_patches.py    most predictive patches per class
    bagnet-all                   run_all.py               all of them, then results/bagnet/README.md

Shared: :mod:`.common` (options, models, the seeded image sample), :mod:`.outputs` (table and
figure writers), :mod:`.paper` (the paper's reference numbers), :mod:`.readme` (the comparison README).
"""

from __future__ import annotations

__all__ = ["EXPERIMENT_MODULES"]

#: experiment name -> module, in the order ``bagnet-all`` runs them.
EXPERIMENT_MODULES: dict[str, str] = {
    "bagnet-interaction": "attrbench.experiments.bagnet.interaction",
    "bagnet-logit-correlation": "attrbench.experiments.bagnet.logit_correlation",
    "bagnet-scrambling": "attrbench.experiments.bagnet.scrambling",
    "bagnet-errors": "attrbench.experiments.bagnet.error_distribution",
    "bagnet-spatial-sensitivity": "attrbench.experiments.bagnet.spatial_sensitivity",
    "bagnet-predictive-patches": "attrbench.experiments.bagnet.predictive_patches",
}
