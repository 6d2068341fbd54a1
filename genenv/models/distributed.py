"""World-model training under torchrun: DistributedDataParallel on gloo (CPU) or nccl (GPU).

`torchrun --nproc_per_node N genenv train-world ...` (or `torchrun --no-python ...`) starts N
processes with RANK / WORLD_SIZE / MASTER_ADDR set; `init_from_env` joins them into one process
group. Every rank holds the same data and draws the same global batches from the same seed, takes
its own slice of each, and DDP averages the gradients, so each update is the global batch's, as in
one process. Rank 0 alone prints and writes the checkpoint, in the same format as one process.
"""

from __future__ import annotations

import os

import torch


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: str) -> tuple[int, int]:
    """Join the torchrun process group (once); returns (rank, world size). (0, 1) alone."""
    if not launched_by_torchrun():
        return 0, 1
    dist = torch.distributed
    if not dist.is_initialized():
        backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


def rank_world() -> tuple[int, int]:
    """(rank, world size) of the current process group; (0, 1) without one."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def wrap(module: torch.nn.Module) -> torch.nn.Module:
    """`module` in DistributedDataParallel when a process group runs, else itself."""
    _, world = rank_world()
    if world == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    dev = next(module.parameters()).device
    return DistributedDataParallel(module, device_ids=[dev.index] if dev.type == "cuda" else None)


def shutdown() -> None:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
