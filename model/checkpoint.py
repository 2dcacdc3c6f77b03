"""Checkpoints: safetensors weights + JSON metadata, written atomically (model/rundir.py).

No pickle anywhere: a checkpoint is plain tensors plus a JSON string, so opening a file someone sent you
cannot run code. A sha256 of the tensor bytes in the metadata catches truncated or tampered files.
"""
import hashlib
import json
from pathlib import Path

from model.lstm import CharLSTM, ModelConfig  # first: it sets torch's environment before torch loads
import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import save  # noqa: E402

from model import rundir  # noqa: E402
from model.corpus import Vocab  # noqa: E402


class CheckpointError(rundir.RunError):
    """A checkpoint that cannot be used: truncated, tampered, or from another vocabulary or model."""


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
    rundir.atomic_write(path, save(tensors, metadata={"cellscope": json.dumps(meta)}))


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


def load_model(run_dir, checkpoint=None, device="cpu"):
    """(model in eval mode, vocab, checkpoint metadata) for a run's checkpoint (newest by default)."""
    run = rundir.read_run(run_dir)
    vocab = Vocab(run["vocab"])
    tensors, meta = load_checkpoint(rundir.checkpoint_path(run_dir, checkpoint))
    if meta.get("vocab") != run["vocab"]:
        raise CheckpointError(f"checkpoint {meta.get('name')} was trained on another vocabulary "
                              f"({len(meta.get('vocab') or [])} chars) than run {run_dir} ({len(vocab)} chars)")
    model = CharLSTM(ModelConfig(**run["model"]))
    weights = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(weights)
    except RuntimeError:
        raise CheckpointError(f"checkpoint {meta.get('name')} does not fit the model in {run_dir}/run.json") from None
    return model.to(device).eval(), vocab, meta
