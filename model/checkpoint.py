"""Checkpoints: safetensors weights + JSON metadata, written atomically; the run's config in run.json.

No pickle anywhere: a checkpoint is plain tensors plus a JSON string, so opening a file someone sent you
cannot run code. A sha256 of the tensor bytes in the metadata catches truncated or tampered files.
"""
import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save

from model.corpus import Vocab
from model.lstm import CharLSTM


class CheckpointError(Exception):
    """A checkpoint or run directory that cannot be used; one line for the user."""


def checkpoint_name(iteration):
    return f"iter-{iteration:06d}"


def atomic_write(path, data):
    """Write bytes under a temporary name, fsync, then rename: a kill leaves the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _digest(tensors):
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_checkpoint(path, tensors, metadata):
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = dict(metadata, sha256=_digest(tensors))
    atomic_write(path, save(tensors, metadata={"cellscope": json.dumps(meta)}))


def load_checkpoint(path):
    """(tensors, metadata); CheckpointError for anything that is not an intact cellscope checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})["cellscope"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception:  # safetensors raises several types for garbage; all mean the same to the user
        raise CheckpointError(f"{path}: not a valid cellscope checkpoint (truncated, tampered or another format)") from None
    if _digest(tensors) != meta.get("sha256"):
        raise CheckpointError(f"{path}: checksum mismatch, the checkpoint is corrupt or was modified")
    return tensors, meta


def list_checkpoints(run_dir):
    """{name: path} of the run's checkpoints, oldest first."""
    found = Path(run_dir, "checkpoints").glob("iter-*.safetensors")
    return {p.stem: p for p in sorted(found, key=lambda p: int(p.stem.split("-")[1]))}


def resolve_checkpoint(run_dir, name=None):
    """The named checkpoint's path, or the newest one's."""
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise CheckpointError(f"{run_dir}: no checkpoints (train first: python -m model.train CORPUS --run {run_dir})")
    if name is None:
        return list(checkpoints.values())[-1]
    if name not in checkpoints:
        raise CheckpointError(f"{run_dir}: no checkpoint {name} (have {', '.join(checkpoints)})")
    return checkpoints[name]


def read_run(run_dir):
    path = Path(run_dir, "run.json")
    if not path.is_file():
        raise CheckpointError(f"{run_dir}: not a run directory (no run.json)")
    return json.loads(path.read_text(encoding="utf-8"))


def load_model(run_dir, checkpoint=None, device="cpu"):
    """(model in eval mode, vocab, checkpoint metadata) for a run's checkpoint (newest by default)."""
    run = read_run(run_dir)
    vocab = Vocab(run["vocab"])
    tensors, meta = load_checkpoint(resolve_checkpoint(run_dir, checkpoint))
    if meta.get("vocab") != run["vocab"]:
        raise CheckpointError(f"checkpoint {meta.get('name')} was trained on another vocabulary "
                              f"({len(meta.get('vocab') or [])} chars) than run {run_dir} ({len(vocab)} chars)")
    model = CharLSTM(**run["model"])
    weights = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(weights)
    except RuntimeError:
        raise CheckpointError(f"checkpoint {meta.get('name')} does not fit the model in {run_dir}/run.json") from None
    return model.to(device).eval(), vocab, meta
