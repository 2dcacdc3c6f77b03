"""Data-parallel training (PyTorch's own DistributedDataParallel) and sharded recording under torchrun: which
rank this process is, its share of the batch streams or of the recording's streams, and the few collectives
beyond DDP's gradient all-reduce. Outside torchrun (no WORLD_SIZE, or 1) every function here is a no-op, so a
plain run is unchanged.

    torchrun --nproc-per-node 2 -m model.train -- war_and_peace.txt --run runs/wp
    torchrun --nproc-per-node 2 -m model.record -- runs/wp --all-checkpoints

In training rank 0 alone evaluates, samples and writes the run; the others wait meanwhile in the next
collective. A recording (model.record, or training's --record) is every rank's: each records its share of the
streams into the same files, which rank 0 makes and publishes (model/record.py).
"""
import contextlib
import datetime
import os
import sys

import model.lstm  # noqa: F401  (first: it sets torch's environment before torch loads)
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402

TIMEOUT = datetime.timedelta(hours=1)  # how long the other ranks wait for rank 0 to evaluate and write


def env_ranks():
    """(rank, world size) as torchrun sets them; (0, 1) for a plain run. Known before the group is joined."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def script_args(argv=None):
    """The command line's arguments, less the `--` that comes first under torchrun (`torchrun ... -m
    model.train -- CORPUS --run ...`: without it torchrun takes --run for a prefix of its own --run-path)."""
    argv = sys.argv[1:] if argv is None else argv
    return argv[1:] if argv[:1] == ["--"] else argv


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


def my_range(count):
    """This rank's contiguous share of count items (the recording's streams), as even as possible: the first
    count % world ranks take one more."""
    rank, world = env_ranks()
    share, extra = divmod(count, world)
    start = rank * share + min(rank, extra)
    return range(start, start + share + (rank < extra))


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
    """Rank 0's flag (its truth) on every rank, so that all of them take the same branch: stop at the same
    iteration, record the same checkpoints."""
    if not active():
        return flag
    t = torch.tensor([int(bool(flag))])  # a CPU tensor: it goes through gloo, no GPU sync
    dist.broadcast(t, 0)
    return bool(t.item())


def from_rank0(obj):
    """Rank 0's obj (anything picklable) on every rank; the others wait here until rank 0 gets here."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, 0)  # through gloo: objects are in CPU memory
    return box[0]


def sum_over_ranks(array):
    """The sum over the ranks of a numpy array each one holds (the array itself in a plain run), as a CPU
    tensor: through gloo, no GPU sync."""
    if not active():
        return array
    total = torch.from_numpy(array.copy())
    dist.all_reduce(total)
    return total.numpy()


def barrier():
    """Wait here until every rank is here: e.g. until rank 0 has written what the others read next."""
    if active():
        dist.barrier()
