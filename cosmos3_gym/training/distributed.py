"""Data-parallel training under ``torchrun`` (DistributedDataParallel: gloo on CPU, NCCL on GPU).

Every rank draws the *global* batch's window indices and flow noise from the same seeded streams and
computes only its own shard of rows, and the loss of a shard is its sum over the global weight count
(times the world size, which DDP's gradient averaging divides out). So N ranks take exactly the
optimizer steps of one process with the same global batch, up to float summation order, and
``--resume`` continues the same streams.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Shard:
    """This process's place in the run: ``rank`` of ``world`` (1 = a plain single-process run)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes logs, checkpoints and progress bars."""
        return self.rank == 0

    def rows(self, size: int, policy: int) -> np.ndarray:
        """Indices of this shard's rows in a global batch of ``size`` uniform then ``policy`` policy windows
        (each part split evenly over the ranks, so every rank trains every mode)."""
        b, p = size // self.world, policy // self.world
        r = self.rank
        return np.concatenate([np.arange(r * b, (r + 1) * b), size + np.arange(r * p, (r + 1) * p)])

    def all_sum(self, value: torch.Tensor) -> torch.Tensor:
        """Sum of ``value`` over the ranks (no gradient flows through it)."""
        if self.world == 1:
            return value
        out = value.detach().clone()
        dist.all_reduce(out)
        return out

    def device(self, device: str) -> str:
        """Each rank takes its own GPU (``cuda`` -> ``cuda:<local rank>``); CPU ranks share the host."""
        return f"cuda:{self.local_rank}" if device == "cuda" and self.world > 1 else device

    def check_batch(self, size: int, policy: int) -> None:
        """The global batch must split evenly over the ranks."""
        if size % self.world or policy % self.world:
            raise ValueError(
                f"--batch-size {size} and --policy-batch {policy} must be multiples of the {self.world} ranks "
                "(the global batch is split evenly)"
            )


def launched() -> bool:
    """Whether this process was started by ``torchrun`` with more than one rank."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def start(device: str) -> Shard:
    """Join the ``torchrun`` process group (gloo for CPU, NCCL for CUDA) or return the single-process shard."""
    if not launched():
        return Shard()
    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend)
    return Shard(rank, world, local)


def stop(shard: Shard) -> None:
    """Leave the process group (after a barrier, so rank 0's last checkpoint is on disk for everyone)."""
    if shard.world > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
