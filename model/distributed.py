"""Data-parallel training under torchrun, with PyTorch's own DistributedDataParallel: which rank this process
is, its share of the batch streams, and the few collectives the training loop needs beyond DDP's gradient
all-reduce. Outside torchrun (no WORLD_SIZE, or 1) every function here is a no-op, so a plain run is unchanged.

    torchrun --nproc-per-node 2 -m model.train -- war_and_peace.txt --run runs/wp

Rank 0 alone evaluates, samples, records and writes; the others wait meanwhile in the next collective.
"""
import contextlib
import datetime
import os

import model.lstm  # noqa: F401  (first: it sets torch's environment before torch loads)
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402

TIMEOUT = datetime.timedelta(hours=1)  # how long the other ranks wait for rank 0 to evaluate and record


def env_ranks():
    """(rank, world size) as torchrun sets them; (0, 1) for a plain run. Known before the group is joined."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def is_rank0():
    return env_ranks()[0] == 0


def active():
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


@contextlib.contextmanager
def process_group(device):
    """Join torchrun's process group for the length of training (gloo for CPU tensors, and nccl for CUDA ones
    on a GPU); yields the device this rank trains on: its own GPU, cuda:LOCAL_RANK. A group the caller has
    already joined is used as it is, and left to the caller."""
    rank, world = env_ranks()
    if world == 1:
        yield device
        return
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    joined = not dist.is_initialized()
    if joined:
        dist.init_process_group("cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
    try:
        yield device
    finally:
        if joined:
            dist.destroy_process_group()


def wrap(model, device):
    """The model whose backward averages the gradients over the ranks (the model itself in a plain run)."""
    if not active():
        return model
    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def my_streams(batch_size):
    """This rank's slice of the global batch's streams."""
    rank, world = env_ranks()
    share = batch_size // world
    return slice(rank * share, (rank + 1) * share)


def _each(state, fn):
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


def shard(state, batch_size):
    """This rank's part of a carried hidden state [layers, batch_size, H] (h, or (h, c) for an LSTM)."""
    if state is None or not active():
        return state
    return _each(state, lambda s: s[:, my_streams(batch_size)].contiguous())


def gathered(state):
    """The global carried hidden state from every rank's part, streams in rank order (on every rank)."""
    if state is None or not active():
        return state

    def gather(s):
        parts = [torch.empty_like(s) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, s.contiguous())
        return torch.cat(parts, 1)
    return _each(state, gather)


def mean(total):
    """The mean over the ranks of a tensor each one holds (the tensor itself in a plain run)."""
    if not active():
        return total
    total = total.clone()
    dist.all_reduce(total)
    return total / dist.get_world_size()


def rank0_says(flag):
    """Rank 0's flag on every rank, so that all of them stop at the same iteration."""
    if not active():
        return flag
    t = torch.tensor([int(flag)])  # a CPU tensor: it goes through gloo, no GPU sync
    dist.broadcast(t, 0)
    return bool(t.item())


def barrier():
    """Wait here until every rank is here: at the end, so that training returns once rank 0 has written."""
    if active():
        dist.barrier()
