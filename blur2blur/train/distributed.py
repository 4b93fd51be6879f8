"""Data-parallel training across processes (torchrun), one code path for 1 or N processes.

Every process computes the loss on its slice of the global batch (see data/sampling.py); after
each backward pass the gradients are averaged across processes, so every replica takes the same
optimiser step as a single process on the whole batch would. Averaging by hand (rather than
wrapping in DistributedDataParallel) keeps double backward (the gradient penalty) and
alternating G/D updates simple and exact. Launch with
`torchrun --nproc_per_node=N -m blur2blur train-translator ...`; CPU runs use the gloo backend.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from blur2blur.device import pick_device


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str | None = "auto") -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1), else single process."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise ValueError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not a number of processes") from None
    if world <= 1:
        return DistInfo(device=pick_device(device))
    missing = [v for v in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise ValueError(f"WORLD_SIZE={world} is set but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                         "not: launch several processes with torchrun (torchrun --nproc_per_node=N -m blur2blur "
                         "COMMAND ...), or unset WORLD_SIZE for one process")
    rank, local = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    dev = pick_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=dev)


def average_gradients(module: torch.nn.Module, info: DistInfo) -> None:
    """All-reduce (mean) the gradients of `module` in one flat buffer."""
    if info.world_size <= 1:
        return
    params = [p for p in module.parameters() if p.grad is not None]
    if not params:
        return
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= info.world_size
    offset = 0
    for p in params:
        n = p.grad.numel()
        p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
        offset += n


def broadcast_module(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every process."""
    if info.world_size <= 1:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def mean_across(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """Average logged scalars over processes (for logs only)."""
    if info.world_size <= 1 or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return {k: float(v) / info.world_size for k, v in zip(keys, t.tolist())}


def barrier(info: DistInfo) -> None:
    if info.world_size > 1:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()
