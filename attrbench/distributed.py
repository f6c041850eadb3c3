"""Scale-out on ``torchrun``: samples sharded across ranks, one merge by rank 0.

``torchrun --nproc_per_node N -m attrbench run ...`` starts N processes with ``WORLD_SIZE``,
``RANK`` and ``LOCAL_RANK`` in their environment. When ``WORLD_SIZE`` > 1, :func:`ranks_from_env`
initialises ``torch.distributed`` (gloo on CPU, NCCL on CUDA, each rank on ``cuda:LOCAL_RANK``);
without it nothing is initialised and the run is the ordinary single process.

How the runner (:func:`attrbench.runner.run`) uses it (docs/scale-out.md):

1. every rank opens the same run (model, data, methods); rank 0 chooses the run directory, takes
   the run lock, checks a resume and writes config.json, then sends the directory to the others
   (:meth:`Ranks.broadcast`), together with its forward chunk so that every rank computes curves
   with the same chunk;
2. batch ``b`` belongs to rank ``b mod N`` (:meth:`Ranks.owns`); each rank scores and writes the
   units of its batches as the usual part files. A unit's seed depends on (run seed, method,
   batch index) only (:func:`attrbench.runspec.unit_seed`), so it gives the same records on any rank;
3. after a barrier, rank 0 merges the parts in (batch, method) order and writes the summary, so
   the records are those of a single-process run; the other ranks wait for it at a last barrier.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["Ranks", "ranks_from_env"]


@dataclass(frozen=True)
class Ranks:
    """This process's place in a ``torchrun`` job (rank 0 of 1 without one).

    Attributes:
        rank: this process's rank; world: the number of processes.
        active: ``torch.distributed`` was initialised here (world > 1).
    """

    rank: int = 0
    world: int = 1
    active: bool = False

    @property
    def leader(self) -> bool:
        """Rank 0: owns the run directory, config.json, the merge and the summary."""
        return self.rank == 0

    def owns(self, batch_index: int) -> bool:
        """Batch ``batch_index`` is scored by this rank (``batch_index mod world == rank``)."""
        return batch_index % self.world == self.rank

    def barrier(self) -> None:
        """Wait for every rank (nothing to wait for in a single process)."""
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (a picklable object; the value itself in a single process)."""
        if not self.active:
            return value
        import torch.distributed as dist

        box = [value if self.leader else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        """Tear the process group down (after the last barrier)."""
        if self.active:
            import torch.distributed as dist

            dist.destroy_process_group()


def ranks_from_env(device: torch.device) -> Ranks:
    """The job's :class:`Ranks`: ``torch.distributed`` initialised when ``WORLD_SIZE`` > 1 is set.

    Args:
        device: the run's device; CUDA selects the NCCL backend (and ``cuda:LOCAL_RANK``), CPU gloo.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend, timeout=dt.timedelta(hours=6))
    return Ranks(rank=rank, world=world, active=True)
