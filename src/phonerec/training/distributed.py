"""Multi-GPU / multi-node data parallelism with torch DDP, launched by `torchrun`.

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; without them everything is a single process
and these helpers are no-ops. NCCL on CUDA, gloo on CPU (what the tests use).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init(device=None) -> DistInfo:
    """Join the process group if launched by torchrun; pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return DistInfo(device=dev)
    use_cuda = torch.cuda.is_available() and (device is None or str(device).startswith("cuda"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    dev = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), device=dev)


def wrap(model: torch.nn.Module, info: DistInfo) -> torch.nn.Module:
    """DDP-wrap the model when distributed (gradients averaged across processes).

    device_ids stays None, on a GPU too: with device_ids DDP copies every forward input to that device,
    the lengths as well, which data.Batch keeps on the CPU (packing and CTC take CPU lengths; each copy
    back would be a sync). The model and the batch are on this rank's device already (init, Batch.to).

    BatchNorm is not made SyncBatchNorm, on purpose: each rank takes whole batches of the padded-frames
    budget (data.BucketBatchSampler), so a rank normalises with the statistics single-process training
    uses, over N x T' x F' positions per channel (thousands even for one utterance), not a few images'
    worth that SyncBatchNorm is for. Syncing would add a blocking all-reduce per BatchNorm layer in forward
    and backward, and SyncBatchNorm has no CPU kernel, so the gloo tests would train another model than
    NCCL. The running statistics therefore differ across ranks after a step (DDP broadcasts rank 0's
    before each forward): model.pt holds rank 0's, and the trainer takes rank 0's dev figures (from_main).
    """
    if not info.enabled:
        return model
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=None)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "module", model)


def rank_and_world() -> tuple[int, int]:
    """(this process's rank, number of processes) of the joined process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_gather(obj) -> list:
    """[rank 0's obj, rank 1's obj, ...] (a collective: every rank calls it); [obj] in a single process."""
    world = rank_and_world()[1]
    if world == 1:
        return [obj]
    out = [None] * world
    dist.all_gather_object(out, obj)
    return out


def from_main(obj):
    """Rank 0's `obj` on every rank (a collective: every rank calls it); `obj` in a single process."""
    if rank_and_world()[1] == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def cleanup() -> None:
    """Leave the process group together: a rank that tears down gloo while another still writes
    model.pt and is yet to destroy its own can abort ("terminate called without an active exception")."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
