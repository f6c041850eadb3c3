"""Chance levels of the sign metrics: exact over all permutations, ~0 corrected for random maps."""

from __future__ import annotations

import itertools

import torch

from attrbench.metrics.chance import chance_corrected, chance_values, positive_mass_chance, sign_agreement_chance


def _sign_agreement(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return (torch.sign(a) == torch.sign(g)).to(torch.float64).mean(dim=-1)


def _positive_mass(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    pos = a.clamp_min(0)
    return (pos * (g > 0)).sum(dim=-1) / pos.sum(dim=-1)


def test_chance_is_the_mean_over_every_permutation_of_the_map() -> None:
    a = torch.tensor([[0.5, -1.0, 0.0, 2.0, 0.0, 0.25]], dtype=torch.float64)
    g = torch.tensor([[1.0, 2.0, -0.5, 0.0, 3.0, -1.0]], dtype=torch.float64)
    perms = torch.tensor(list(itertools.permutations(range(6))))  # all 720 random maps with a's values
    shuffled = a[0, perms]  # (720, 6)
    sa = _sign_agreement(shuffled, g.expand_as(shuffled))
    pm = _positive_mass(shuffled, g.expand_as(shuffled))
    torch.testing.assert_close(sign_agreement_chance(a, g), sa.mean().view(1), rtol=0, atol=1e-12)
    torch.testing.assert_close(positive_mass_chance(g), pm.mean().view(1), rtol=0, atol=1e-12)
    # hence the corrected value averages to exactly 0 over the random maps
    out = chance_values(shuffled, g.expand_as(shuffled), {"gt_sign_agreement": sa, "gt_positive_mass": pm})
    assert abs(out["gt_sign_agreement_corrected"].mean().item()) < 1e-12
    assert abs(out["gt_positive_mass_corrected"].mean().item()) < 1e-12


def test_random_maps_score_about_zero_corrected_and_the_truth_scores_one() -> None:
    gen = torch.Generator().manual_seed(0)
    b, n = 400, 64
    g = torch.randn(b, n, generator=gen, dtype=torch.float64) + 0.8  # ~79 % positive patches: a high chance level
    a = torch.randn(b, n, generator=gen, dtype=torch.float64)  # random maps, independent of the truth
    values = {"gt_sign_agreement": _sign_agreement(a, g), "gt_positive_mass": _positive_mass(a, g)}
    out = chance_values(a, g, values)
    assert out["gt_positive_mass_chance"].mean().item() > 0.7  # the raw value looks good by chance alone ...
    for name in ("gt_sign_agreement_corrected", "gt_positive_mass_corrected"):
        v = out[name]
        sem = v.std().item() / b**0.5
        assert abs(v.mean().item()) < 4 * sem  # ... the corrected one is 0 within its sampling error
    perfect = chance_values(g, g, {"gt_sign_agreement": _sign_agreement(g, g), "gt_positive_mass": _positive_mass(g, g)})
    torch.testing.assert_close(perfect["gt_sign_agreement_corrected"], torch.ones(b, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(perfect["gt_positive_mass_corrected"], torch.ones(b, dtype=torch.float64), rtol=0, atol=1e-12)


def test_chance_of_one_has_no_corrected_value() -> None:
    v = chance_corrected(torch.tensor([1.0, 0.5]), torch.tensor([1.0, 0.5]))
    assert torch.isnan(v[0]) and v[1].item() == 0.0
