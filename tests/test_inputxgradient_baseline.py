"""InputXGradient declares its implicit black baseline and is scored against the matched truth."""

from __future__ import annotations

import torch

from attrbench.ground_truth import patch_truth
from attrbench.methods.inputxgradient import InputXGradient
from attrbench.metrics.gt import GroundTruthAgreement
from attrbench.testing.models import tiny_bagnet
from attrbench.testing.toys import make_context


def test_inputxgradient_is_scored_against_the_zero_baseline_truth() -> None:
    model = tiny_bagnet(9, num_classes=5, width=4, seed=1, input_size=(40, 40))
    method = InputXGradient(model, spec=model.spec)
    assert method.info.needs_baseline and method.baseline == 0.0
    x = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    labels = torch.tensor([0, 2])
    matched = patch_truth(model, x, labels=labels, baseline=0.0)
    unmatched = patch_truth(model, x, labels=labels, baseline=None)
    assert not torch.equal(torch.sign(matched), torch.sign(unmatched))  # the two truths disagree in sign
    # the runner hands a method's declared baseline to the metrics (MetricContext.baseline)
    ctx = make_context(model=model, images=x, labels=labels, maps=x[:, :1], grid_map=matched,
                       info=method.info, baseline=method.baseline)
    values = GroundTruthAgreement().compute(ctx).values
    torch.testing.assert_close(values["gt_sign_agreement"], torch.ones(2, dtype=torch.float64), rtol=0, atol=0)
