"""`torchrun --nproc_per_node 2` (gloo, CPU) gives the records of a single-process run."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pandas as pd

from attrbench.distributed import Ranks

KWARGS = dict(methods=["attrbench.testing.toys:ToyInputXGradient", "ig[n_steps=4]"],
              metrics=["gt", "deletion[steps=4]", "randomisation[max_samples=3,max_stages=2]"],
              batch_size=2, n_samples=5, forward_batch=2, progress=False)  # fmt: skip

WORKER = textwrap.dedent(
    """
    import sys
    from attrbench.runner import RunConfig, run
    from attrbench.testing.toys import toy_model, toy_samples

    run(RunConfig(out=sys.argv[1], **{kwargs}), model=toy_model(), dataset=toy_samples(5))
    """
)


def _frames(path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    from attrbench.results import load_run

    data = load_run(path)
    return data.records, data.curves, pd.read_csv(path / "summary.csv")


def test_two_ranks_write_the_records_of_one_process(tmp_path) -> None:
    from attrbench.runner import RunConfig, run
    from attrbench.testing.toys import toy_model, toy_samples

    run(RunConfig(out=str(tmp_path / "one" / "run"), **KWARGS), model=toy_model(), dataset=toy_samples(5))
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(kwargs=repr(KWARGS)))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
           str(tmp_path / "two" / "run")]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = _frames(tmp_path / "one" / "run"), _frames(tmp_path / "two" / "run")
    for a, b in zip(one, two):
        pd.testing.assert_frame_equal(a, b)
    stored = json.loads((tmp_path / "two" / "run" / "config.json").read_text())
    assert stored["world_size"] == 2 and stored["status"] == "finished" and stored["forward_batch"] == 2
    assert len(one[0]) > 0 and set(one[0].status) == {"ok"}
    # rank 0 scored batches 0 and 2 only (3 of the 5 samples), rank 1 batch 1
    assert stored["phase_seconds"]["images"] == {m: 3 for m in KWARGS["methods"]}


def test_single_process_ranks_own_everything() -> None:
    ranks = Ranks()
    assert ranks.leader and not ranks.active and all(ranks.owns(b) for b in range(5))
    assert ranks.broadcast("x") == "x"
    ranks.barrier()
    shard = [Ranks(rank=r, world=3, active=False) for r in range(3)]
    assert [[b for b in range(7) if s.owns(b)] for s in shard] == [[0, 3, 6], [1, 4], [2, 5]]
