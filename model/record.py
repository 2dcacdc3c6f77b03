"""Run one checkpoint over a text and record, at every position, every layer's c and h (and gates), the top-5
guesses for the next character and the loss; and its CLI.

    python -m model.record runs/wp --all-checkpoints --gates

nn.LSTM hides c and the gates, so each layer is computed by hand (DESIGN.md, "Recording fast"): either a loop
with one recurrent matmul per step ("loop", fastest on CPU), or the fused kernel for h followed by all gates
recomputed in one matmul and c by its elementwise recurrence ("fused", for GPUs). The text is cut into
parallel streams for speed; each stream but the first is warmed up over the text just before it, so the
result matches one uninterrupted pass from a zero state at position 0. Blocks go to disk as they are made.
"""
import argparse
import hashlib
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from model.checkpoint import CheckpointError, list_checkpoints, load_model, read_run, resolve_checkpoint
from model.corpus import CorpusError, read_text, split
from model.lstm import pick_device
from model.recording import GATE_KINDS, STATE_KINDS, TOP_K, Recording, RecordingError, RecordingWriter


class RecordError(Exception):
    """Recording cannot be done as asked; one line for the user."""


def layer_weights(model, layer):
    rnn = model.rnn
    bias = getattr(rnn, f"bias_ih_l{layer}") + getattr(rnn, f"bias_hh_l{layer}")
    return getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"weight_hh_l{layer}"), bias


def split_gates(pre):
    """Pre-activations [..., 4H] in nn.LSTM's order (i, f, g, o) -> the four gates."""
    i, f, g, o = pre.chunk(4, -1)
    return i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()


def layer_loop(x, weights, h, c):
    """One layer, step by step: input projection for all steps in one matmul, then one matmul per step."""
    w_ih, w_hh, bias = weights
    steps, streams = x.shape[:2]
    xproj = torch.addmm(bias, x.flatten(0, 1), w_ih.t()).view(steps, streams, -1)
    w_hh_t = w_hh.t().contiguous()  # 13% faster per-step matmul here than the transposed view
    hs, cs, gates = [], [], []
    for xp in xproj.unbind(0):
        i, f, g, o = split_gates(torch.addmm(xp, h, w_hh_t))
        c = torch.addcmul(f * c, i, g)
        h = o * c.tanh()
        hs.append(h)
        cs.append(c)
        gates.append((i, f, o))
    i, f, o = (torch.stack(k) for k in zip(*gates))
    return torch.stack(hs), torch.stack(cs), (i, f, o)


def layer_fused(x, weights, h, c, single_layer):
    """One layer: h from the fused kernel, then the gates for all steps at once and c by its recurrence."""
    w_ih, w_hh, bias = weights
    hs, _ = single_layer(x, (h[None], c[None]))
    h_prev = torch.cat([h[None], hs[:-1]])
    i, f, g, o = split_gates(x @ w_ih.t() + h_prev @ w_hh.t() + bias)
    ig = i * g
    cs = torch.empty_like(hs)
    for t in range(len(hs)):
        c = torch.addcmul(ig[t], f[t], c)
        cs[t] = c
    return hs, cs, (i, f, o)


def single_layers(model):
    """Each layer of the model's nn.LSTM as its own one-layer nn.LSTM sharing the weights."""
    layers = []
    for k in range(model.rnn.num_layers):
        lstm = torch.nn.LSTM(model.rnn.input_size if k == 0 else model.rnn.hidden_size, model.rnn.hidden_size)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            setattr(lstm, f"{name}_l0", getattr(model.rnn, f"{name}_l{k}"))
        layers.append(lstm.to(next(model.parameters()).device))
    return layers


def scatter(dst, block, per, t0, n):
    """Write block [..., streams, steps] into dst [..., n] where stream s holds positions s*per + t."""
    full = n // per
    steps = block.shape[-1]
    head = dst[..., :full * per].reshape(*dst.shape[:-1], full, per)
    assert np.may_share_memory(head, dst), "reshape copied instead of viewing the memory map"
    head[..., t0:t0 + steps] = block[..., :full, :]
    if full < block.shape[-2]:
        lo, hi = full * per + t0, min(n, full * per + t0 + steps)
        if hi > lo:
            dst[..., lo:hi] = block[..., full, :hi - lo]


def stream_layout(n, streams, warmup):
    """(streams, chars per stream): no more streams than leaves each one a full warm-up of preceding text."""
    streams = max(1, min(streams, n // warmup if warmup else n))
    per = math.ceil(n / streams)
    return math.ceil(n / per), per


@torch.no_grad()
def record(model, vocab, text, out_dir, next_char=None, gates=False, streams=64, warmup=1000, block=256,
           method="auto", dtype="float16", meta=None, progress=True):
    """Write the recording of `model` over `text` to out_dir; returns its path.

    next_char, when known, is the character after the text: it gives the last position a loss.
    """
    device = next(model.parameters()).device
    if model.config["cell"] != "lstm":
        raise RecordError(f"recording needs an LSTM; this run is a {model.config['cell'].upper()}")
    if method == "auto":
        method = "fused" if device.type == "cuda" else "loop"
    n, layers, hidden = len(text), model.config["layers"], model.config["hidden"]
    ids = vocab.encode(text + (next_char or ""), unknown=(meta or {}).get("unknown"))
    streams, per = stream_layout(n, streams, warmup)
    padded = np.zeros(streams * per + 1, dtype=np.int64)
    padded[:len(ids)] = ids
    x_all = torch.as_tensor(padded[:-1].reshape(streams, per).T.copy(), device=device)
    y_all = torch.as_tensor(padded[1:].reshape(streams, per).T.copy(), device=device)
    has_target = torch.as_tensor((np.arange(streams * per) < len(ids) - 1).reshape(streams, per).T.copy(),
                                 device=device)
    valid = torch.as_tensor((np.arange(streams * per) < n).reshape(streams, per).T.copy(), device=device)

    h = torch.zeros(layers, streams, hidden, device=device)
    c = torch.zeros_like(h)
    if streams > 1 and warmup:
        before = np.stack([ids[s * per - warmup:s * per] for s in range(1, streams)])
        _, (h[:, 1:], c[:, 1:]) = model.rnn(model.embed(torch.as_tensor(before.T.copy(), device=device)))
    init = (f"stream 0 from a zero state at position 0; {streams - 1} more streams of {per} chars, each warmed up "
            f"from a zero state over the {warmup} chars before its start" if streams > 1 else
            "one stream from a zero state at position 0")

    kinds = STATE_KINDS + (GATE_KINDS if gates else ())
    meta = dict(meta or {}, init=init, streams=streams, warmup=warmup, method=method, device=str(device),
                text_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())
    writer = RecordingWriter(out_dir, text, vocab.chars, layers, hidden, kinds, meta, dtype=dtype)
    counts = {g: np.zeros((2, layers, hidden), np.int64) for g in GATE_KINDS} if gates else None
    np_dtype = torch.float16 if dtype == "float16" else torch.float32
    singles = single_layers(model) if method == "fused" else None
    bar = tqdm(total=n, unit="char", unit_scale=True, disable=not progress, dynamic_ncols=True, desc="record")
    for t0 in range(0, per, block):
        t1 = min(per, t0 + block)
        x = model.embed(x_all[t0:t1])
        out = {k: [] for k in kinds}
        for layer in range(layers):
            weights = layer_weights(model, layer)
            if method == "loop":
                hs, cs, (i, f, o) = layer_loop(x, weights, h[layer], c[layer])
            else:
                hs, cs, (i, f, o) = layer_fused(x, weights, h[layer], c[layer], singles[layer])
            h[layer], c[layer] = hs[-1], cs[-1]
            for kind, value in zip(kinds, (cs, hs, i, f, o)):
                out[kind].append(value)
            if gates:
                mask = valid[t0:t1, :, None]
                for g, value in zip(GATE_KINDS, (i, f, o)):
                    counts[g][0, layer] += ((value < 0.1) & mask).sum((0, 1)).cpu().numpy()
                    counts[g][1, layer] += ((value > 0.9) & mask).sum((0, 1)).cpu().numpy()
            x = hs
        for kind in kinds:  # [layers, steps, streams, cells] -> cell-major [layers, cells, streams, steps]
            arr = torch.stack(out[kind]).permute(0, 3, 2, 1).to(np_dtype).cpu().numpy()
            scatter(writer.states[kind], arr, per, t0, n)
        logp = torch.log_softmax(model.head(x).float(), -1)
        top_p, top_i = logp.topk(TOP_K, -1)
        loss = -logp.gather(-1, y_all[t0:t1, :, None])[..., 0]
        loss = torch.where(has_target[t0:t1], loss, torch.nan)
        scatter(writer.top5_ids.T, top_i.permute(2, 1, 0).int().cpu().numpy(), per, t0, n)
        scatter(writer.top5_p.T, top_p.exp().permute(2, 1, 0).half().cpu().numpy(), per, t0, n)
        scatter(writer.loss, loss.T.cpu().numpy(), per, t0, n)
        bar.update(int(valid[t0:t1].sum()))
    bar.close()
    stats = None
    if gates:
        stats = {g: {f"layer_{k}": {"left": (counts[g][0, k] / n).round(5).tolist(),
                                    "right": (counts[g][1, k] / n).round(5).tolist()} for k in range(layers)}
                 for g in GATE_KINDS}
    writer.finish(gate_stats=stats)
    return Path(out_dir)


def text_to_record(run_dir, text_file=None, max_chars=100_000):
    """(text, next char or None, source description): the run's validation split by default."""
    if text_file is not None:
        full = read_text(text_file)
        source = dict(kind="file", path=str(Path(text_file).resolve()))
    else:
        run = read_run(run_dir)
        try:
            full = read_text(run["corpus"])
        except CorpusError:
            raise RecordError(f"the run's corpus {run['corpus']} is gone; record another text with --text FILE") from None
        if hashlib.sha256(full.encode("utf-8")).hexdigest() != run["corpus_sha256"]:
            raise RecordError(f"the run's corpus {run['corpus']} changed since training; use --text FILE")
        s = run["split"]
        full = split(full, s["val_frac"], s["shuffle_lines"], s["seed"])[1]
        source = dict(kind="val", path=run["corpus"])
    text = full[:max_chars]
    return text, (full[max_chars] if len(full) > max_chars else None), dict(source, start=0, stop=len(text))


def already_recorded(path, text, gates, dtype):
    try:
        rec = Recording.open(path)
    except RecordingError:
        return False
    return (rec.meta.get("text_sha256") == hashlib.sha256(text.encode("utf-8")).hexdigest()
            and set(rec.kinds) >= set(STATE_KINDS + (GATE_KINDS if gates else ())) and rec.meta["dtype"] == dtype)


def record_run(run_dir, checkpoints=None, all_checkpoints=False, text_file=None, max_chars=100_000, gates=False,
               unknown=None, streams=64, warmup=1000, method="auto", dtype="float16", device="auto", force=False,
               progress=True):
    """Record the named checkpoint (newest by default) or all of them; returns the recording paths."""
    run_dir = Path(run_dir)
    read_run(run_dir)
    names = list(list_checkpoints(run_dir)) if all_checkpoints else [resolve_checkpoint(run_dir, checkpoints).stem]
    if not names:
        raise CheckpointError(f"{run_dir}: no checkpoints to record")
    text, next_char, source = text_to_record(run_dir, text_file, max_chars)
    if len(text) < 2:
        raise RecordError("the text to record is shorter than 2 characters")
    device = pick_device(device)
    paths = []
    for name in tqdm(names, unit="checkpoint", disable=not progress or len(names) == 1, desc="checkpoints"):
        out = run_dir / "recordings" / name
        paths.append(out)
        if not force and already_recorded(out, text, gates, dtype):
            continue
        model, vocab, ck = load_model(run_dir, name, device)
        meta = dict(checkpoint=name, iteration=ck["iteration"], val_loss=ck.get("val_loss"), run=run_dir.name,
                    checkpoint_sha256=ck["sha256"], source=source, unknown=unknown)
        start = time.time()
        record(model, vocab, text, out, next_char, gates, streams, warmup, method=method, dtype=dtype, meta=meta,
               progress=progress)
        if progress:
            tqdm.write(f"{name}: {len(text):,} chars recorded in {time.time() - start:.1f}s -> {out}")
    return paths


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m model.record",
                                description="Record every cell of a checkpoint over a text, for the dashboard.")
    p.add_argument("run", help="run directory, e.g. runs/wp")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--checkpoint", help="checkpoint name, e.g. iter-000500 (default: newest)")
    which.add_argument("--all-checkpoints", action="store_true", help="record every checkpoint (skips done ones)")
    p.add_argument("--text", help="a UTF-8 text file to record instead of the run's validation split")
    p.add_argument("--max-chars", type=int, default=100_000, help="record at most this many characters")
    p.add_argument("--gates", action="store_true", help="also record the input, forget and output gates")
    p.add_argument("--unknown", help="map characters outside the vocabulary to this character")
    p.add_argument("--streams", type=int, default=64, help="parallel streams (speed only; results are the same)")
    p.add_argument("--warmup", type=int, default=1000, help="characters each stream reads before its start")
    p.add_argument("--method", choices=["auto", "loop", "fused"], default="auto", help="auto: loop on CPU, fused on GPU")
    p.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    p.add_argument("--device", default="auto")
    p.add_argument("--force", action="store_true", help="record again even if an identical recording exists")
    args = p.parse_args(argv)
    try:
        paths = record_run(args.run, args.checkpoint, args.all_checkpoints, args.text, args.max_chars, args.gates,
                           args.unknown, args.streams, args.warmup, args.method, args.dtype, args.device, args.force)
    except (RecordError, CorpusError, CheckpointError, ValueError) as e:
        sys.exit(f"error: {e}")
    print("\n".join(str(p) for p in paths))


if __name__ == "__main__":
    main()
