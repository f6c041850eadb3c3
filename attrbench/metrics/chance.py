"""Chance levels of the sign metrics of ``gt`` and their chance-corrected values.

``gt_positive_mass`` and ``gt_sign_agreement`` (:mod:`attrbench.metrics.gt`) have a chance level
that depends on the truth's sign distribution: a baseline that moves every patch logit by the
same amount moves the chance level, not the skill. The chance level of a sample is the expected
value of the metric for a random map with the same values as the map, i.e. the map's values
assigned to the patches by a uniformly random permutation. With N patches, truth g and map a:

    gt_sign_agreement:  chance = sum_{s in {-1, 0, +1}} (#{a_p: sign s} / N) (#{g_p: sign s} / N)
                        (a patch receives a map value of sign s with probability #{a: s} / N)
    gt_positive_mass:   chance = #{g_p > 0} / N
                        (every unit of positive map mass lands on a truly positive patch with
                        that probability; the denominator, the total positive mass, is fixed)

and the chance-corrected value (Cohen's kappa form) is

    corrected = (v - chance) / (1 - chance),

0 in expectation for a random map, 1 for a perfect one, negative below chance; NaN when the
chance level is 1 (nothing to correct against) or the value is undefined.
"""

from __future__ import annotations

import torch
from torch import Tensor

from attrbench.stats import ValueRange

__all__ = [
    "CHANCE_OUTPUTS",
    "chance_corrected",
    "chance_outputs",
    "chance_ranges",
    "chance_values",
    "positive_mass_chance",
    "sign_agreement_chance",
]

#: suffixes of the chance values: direction (the corrected value is the score; the chance level
#: is context, declared "higher is better" only because every output needs a direction).
CHANCE_OUTPUTS: dict[str, bool] = {"_chance": True, "_corrected": True}


def chance_outputs(prefix: str) -> dict[str, bool]:
    """Declared outputs of the chance values of ``<prefix>_positive_mass`` and ``<prefix>_sign_agreement``."""
    return {f"{prefix}_{m}{sfx}": d for m in ("positive_mass", "sign_agreement") for sfx, d in CHANCE_OUTPUTS.items()}


def chance_ranges(prefix: str) -> dict[str, ValueRange]:
    """Declared ranges: chance levels and the raw values in [0, 1]; corrected values in [-inf, 1].

    The corrected value is (v - c) / (1 - c) >= -c / (1 - c), unbounded below as c -> 1.
    """
    out = {}
    for m in ("positive_mass", "sign_agreement"):
        out[f"{prefix}_{m}"] = ValueRange(low=0.0, high=1.0)
        out[f"{prefix}_{m}_chance"] = ValueRange(low=0.0, high=1.0)
        out[f"{prefix}_{m}_corrected"] = ValueRange(high=1.0)
    return out


def sign_agreement_chance(a: Tensor, g: Tensor) -> Tensor:
    """(B,) chance level of the sign agreement of maps ``a`` (B, N) with truths ``g`` (B, N)."""
    sa, sg = torch.sign(a), torch.sign(g)
    share = [((sa == s).to(torch.float64).mean(dim=1), (sg == s).to(torch.float64).mean(dim=1)) for s in (-1, 0, 1)]
    return sum(pa * pg for pa, pg in share)  # type: ignore[return-value]


def positive_mass_chance(g: Tensor) -> Tensor:
    """(B,) chance level of the positive mass: the share of truly positive patches of ``g`` (B, N)."""
    return (g > 0).to(torch.float64).mean(dim=1)


def chance_corrected(value: Tensor, chance: Tensor) -> Tensor:
    """(value - chance) / (1 - chance) per sample; NaN where chance == 1."""
    value, chance = value.to(torch.float64), chance.to(torch.float64)
    room = 1 - chance
    return torch.where(room > 0, (value - chance) / torch.where(room > 0, room, torch.ones_like(room)),
                       torch.full_like(value, float("nan")))


def chance_values(a: Tensor, g: Tensor, values: dict[str, Tensor], *, prefix: str = "gt") -> dict[str, Tensor]:
    """Chance levels and corrected values for the sign metrics present in ``values``.

    Args:
        a: (B, N) map on the unit grid; g: (B, N) the truth it is scored against.
        values: the metric's values (``<prefix>_positive_mass``, ``<prefix>_sign_agreement``).
        prefix: "gt" (patch truth) or "cellgt" (cell truth).

    Returns:
        ``<name>_chance`` and ``<name>_corrected`` for each of the two names found in ``values``.
    """
    chances = {f"{prefix}_positive_mass": lambda: positive_mass_chance(g),
               f"{prefix}_sign_agreement": lambda: sign_agreement_chance(a, g)}  # fmt: skip
    out = {}
    for name, level in chances.items():
        if name in values:
            chance = level()
            out[f"{name}_chance"] = chance
            out[f"{name}_corrected"] = chance_corrected(values[name], chance)
    return out
