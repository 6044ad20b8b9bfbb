"""torch.distributed set-up for runs started by ``torchrun`` (gloo on CPU, NCCL on GPU)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | None = None, threads: int = 0) -> DistInfo:
    """Join the process group torchrun describes in the environment (WORLD_SIZE, RANK, ...);
    a single process otherwise. Sets torch's thread count to ``threads``, or if 0 to OMP_NUM_THREADS
    or else this process's share of the cores."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    if device is None:
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    share = max(1, len(os.sched_getaffinity(0)) // max(1, local_world))
    torch.set_num_threads(threads or int(os.environ.get("OMP_NUM_THREADS") or share))
    if world > 1 and not dist.is_initialized():
        _import_group_defaults()
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return DistInfo(rank, world, local_rank, local_world, device)


def barrier(info: DistInfo) -> None:
    if info.distributed and dist.is_initialized():
        dist.barrier()


def _import_group_defaults() -> None:
    """Import ``torch.distributed.nn`` while no group exists. Its functions take ``group=group.WORLD`` as a
    default argument, so importing it after ``init_process_group`` (DDP's import of torch._dynamo does)
    pins the world group for the life of the interpreter: ``destroy_process_group`` then cannot free it,
    and gloo's threads live on into interpreter finalization, where one that must take the GIL to free a
    finished work is killed mid-destructor (C++ terminate: SIGABRT)."""
    import torch.distributed.nn  # noqa: F401


def shutdown(info: DistInfo) -> None:
    """Leave the process group and free it now, joining gloo's threads while the interpreter is whole.
    Drop every DDP wrapper first: its reducer holds the group and would free it without releasing the
    GIL, which a gloo thread finishing its last work may be waiting for (a deadlock)."""
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()


def this_process() -> tuple[int, int]:
    """(rank, world size) of the joined process group; (0, 1) outside one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_batches(mine: list[torch.Tensor], n: int, batch_size: int) -> torch.Tensor:
    """Reassemble per-item results of ``n`` items cut into batches of ``batch_size`` and dealt round robin
    (batch b to rank b % world): every rank passes its own batches' results in order and gets all ``n``."""
    rank, world = this_process()
    local = torch.cat(mine) if mine else torch.zeros(0, dtype=torch.bool)
    if world == 1:
        return local
    most = -(-n // batch_size // world) * batch_size  # ceil(batches / world) batches: any rank's share
    padded = torch.zeros(most, dtype=torch.uint8)
    padded[: len(local)] = local.to(torch.uint8)
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    out = torch.empty(n, dtype=torch.uint8)
    for r, part in enumerate(parts):
        for j, start in enumerate(range(r * batch_size, n, world * batch_size)):
            size = min(batch_size, n - start)
            out[start : start + size] = part[j * batch_size : j * batch_size + size]
    return out.to(local.dtype if len(local) else torch.bool)


def broadcast_from_main(value: object) -> object:
    """Rank 0's ``value`` on every rank (itself outside a process group)."""
    if this_process()[1] == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


@contextmanager
def torchrun_group() -> Iterator[DistInfo]:
    """Join the process group torchrun describes (if any) for the duration of the block, then leave."""
    joined = dist.is_available() and dist.is_initialized()
    threads = torch.get_num_threads()
    info = init_distributed("cpu", 0) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else DistInfo()
    try:
        yield info
    finally:
        if not joined:
            shutdown(info)
        torch.set_num_threads(threads)
