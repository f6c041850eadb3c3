"""A run killed with SIGKILL halfway and resumed gives exactly the records of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from attrbench.results import load_run
from attrbench.runner import evaluate
from attrbench.testing.toys import toy_model, toy_samples

METHOD = "attrbench.testing.toys:ToyInputXGradient[delay=0.3]"
KW = dict(metrics=["gt[topk=20]", "deletion[steps=2]"], batch_size=1, n_samples=5)

SCRIPT = textwrap.dedent(
    """
    import sys
    from attrbench.runner import evaluate
    from attrbench.testing.toys import toy_model, toy_samples
    evaluate(methods=[{method!r}], model=toy_model(), dataset=toy_samples(5), out=sys.argv[1], **{kw!r})
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_then_resume_equals_uninterrupted(tmp_path) -> None:
    killed = tmp_path / "killed" / "run"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT.format(method=METHOD, kw=KW), str(killed)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = list((killed / "shards").glob("*.records.parquet")) if (killed / "shards").is_dir() else []
            if len(done) >= 2:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    n_done = len(list((killed / "shards").glob("*.records.parquet")))
    assert 2 <= n_done < 5 and not (killed / "records.parquet").exists()
    # no half-written part is ever visible under its final name
    assert all(not p.name.endswith(".tmp") for p in (killed / "shards").glob("*.parquet"))

    resumed = evaluate(methods=[METHOD], model=toy_model(), dataset=toy_samples(5), out=killed, resume=True, **KW)
    full = evaluate(methods=[METHOD], model=toy_model(), dataset=toy_samples(5), out=tmp_path / "full" / "run", **KW)
    pd.testing.assert_frame_equal(resumed, full)
    assert not resumed.duplicated(["method", "metric", "sample_id"]).any()
    assert len(resumed) == 5 * 11  # 5 samples x (5 gt values + 4 chance values + deletion_auc + deletion_auc_raw)
    pd.testing.assert_frame_equal(load_run(killed).curves, load_run(tmp_path / "full" / "run").curves)
