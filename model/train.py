"""Train a character LSTM on a text file, char-rnn style, keeping every checkpoint; and its CLI.

    python -m model.train ../shared/corpora/war_and_peace.txt --run runs/wp --hidden 256 --max-minutes 15

Checkpoints are dense early and sparse late so the dashboard can show detectors appearing. Each holds the
weights, the optimizer state, the carried hidden state and the RNG, so --resume continues exactly as if
the run had not stopped.
"""
import argparse
import csv
import hashlib
import io
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from model.checkpoint import (CheckpointError, atomic_write, checkpoint_name, list_checkpoints, load_checkpoint,
                              read_run, save_checkpoint)
from model.corpus import BatchStream, CorpusError, Vocab, read_text, split
from model.lstm import CharLSTM, pick_device
from model.sample import sample

DEFAULTS = dict(layers=2, hidden=128, seq_length=50, batch_size=32, lr=3e-3, dropout=0.0, optimizer="adam",
                grad_clip=5.0, cell="lstm", val_frac=0.1, shuffle_lines=False, seed=0, checkpoint_every=1000)
EARLY_CHECKPOINTS = (100, 200, 300, 500, 700, 1000, 1500, 2000)
LOG_FIELDS = ["iteration", "epoch", "train_loss", "val_loss", "bits_per_char", "lr", "chars_per_s", "elapsed_s"]
LOG_EVERY = 10


class TrainError(Exception):
    """Training cannot start or go on; one line for the user."""


def sha256_of(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_checkpoint(iteration, every):
    return iteration in EARLY_CHECKPOINTS or iteration % every == 0


@torch.no_grad()
def evaluate(model, ids, streams=64, chunk=500):
    """Mean loss (nats/char) over ids, read as parallel contiguous streams with the state carried along."""
    device = next(model.parameters()).device
    streams = max(1, min(streams, (len(ids) - 1) // 100))
    per_stream = (len(ids) - 1) // streams
    x = torch.as_tensor(ids[:streams * per_stream].reshape(streams, per_stream).T, device=device)
    y = torch.as_tensor(ids[1:streams * per_stream + 1].reshape(streams, per_stream).T, device=device)
    was_training = model.training
    model.eval()
    total, state = 0.0, None
    for t in range(0, per_stream, chunk):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits, state = model(x[t:t + chunk], state)
        total += F.cross_entropy(logits.float().flatten(0, 1), y[t:t + chunk].flatten(), reduction="sum").item()
    model.train(was_training)
    return total / (streams * per_stream)


def make_optimizer(name, params, lr):
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.95)
    raise TrainError(f"unknown optimizer {name!r} (adam or rmsprop)")


def training_state(model, opt, state, iteration, val_loss, vocab):
    """Everything --resume needs, as flat tensors + JSON metadata."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt_state = opt.state_dict()
    for idx, slots in opt_state["state"].items():
        for key, value in slots.items():
            tensors[f"optim.{idx}.{key}"] = torch.as_tensor(value)
    if state is not None:
        h, c = state if isinstance(state, tuple) else (state, None)
        tensors["state.h"] = h
        if c is not None:
            tensors["state.c"] = c
    tensors["rng.cpu"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    meta = dict(name=checkpoint_name(iteration), iteration=iteration, val_loss=val_loss, vocab=vocab.chars,
                optim_groups=opt_state["param_groups"])
    return tensors, meta


def restore(path, model, opt, device):
    """Load a checkpoint written by training_state; returns (iteration, carried hidden state)."""
    tensors, meta = load_checkpoint(path)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    slots = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, idx, key = k.split(".", 2)
            slots.setdefault(int(idx), {})[key] = v.to(device) if key != "step" else v
    opt.load_state_dict({"state": slots, "param_groups": meta["optim_groups"]})
    torch.set_rng_state(tensors["rng.cpu"])
    if "rng.cuda" in tensors and device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    state = None
    if "state.h" in tensors:
        h = tensors["state.h"].to(device)
        state = (h, tensors["state.c"].to(device)) if "state.c" in tensors else h
    return meta["iteration"], state


def prepare_run(corpus, run, resume, overrides):
    """(hyperparameters, text) for a new run (writing run.json) or a resumed one (checking it matches)."""
    text = read_text(corpus)
    vocab = Vocab.from_text(text)
    if resume:
        cfg = read_run(run)
        if vocab.chars != cfg["vocab"]:
            new = sorted(set(vocab.chars) ^ set(cfg["vocab"]))
            raise TrainError(f"{corpus} has another vocabulary than run {run} "
                             f"({len(new)} characters differ, e.g. {new[:5]}); start a new --run instead")
        if sha256_of(text) != cfg["corpus_sha256"]:
            raise TrainError(f"{corpus} is not the text run {run} was trained on (sha256 differs)")
        for key, value in overrides.items():
            if value != cfg["hparams"][key]:
                raise TrainError(f"--{key.replace('_', '-')} {value} differs from the run's {cfg['hparams'][key]}; "
                                 "a resumed run keeps its hyperparameters")
        return cfg["hparams"], text, vocab
    if (run / "run.json").exists() or list_checkpoints(run):
        raise TrainError(f"{run} already holds a run; pass --resume to continue it or choose another --run")
    hp = {**DEFAULTS, **overrides}
    train_text, val_text = split(text, hp["val_frac"], hp["shuffle_lines"], hp["seed"])
    if len(val_text) < 2:
        raise TrainError(f"{corpus}: too short for a validation split ({len(text)} characters)")
    BatchStream(np.zeros(len(train_text), np.int64), hp["batch_size"], hp["seq_length"])  # fails early if too short
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run / "samples").mkdir(exist_ok=True)
    cfg = dict(corpus=str(Path(corpus).resolve()), corpus_sha256=sha256_of(text), vocab=vocab.chars,
               split=dict(val_frac=hp["val_frac"], shuffle_lines=hp["shuffle_lines"], seed=hp["seed"],
                          n_train=len(train_text), n_val=len(val_text)),
               model=dict(vocab_size=len(vocab), hidden=hp["hidden"], layers=hp["layers"], dropout=hp["dropout"],
                          cell=hp["cell"]),
               hparams=hp, versions=dict(torch=torch.__version__, python=platform.python_version()))
    atomic_write(run / "run.json", json.dumps(cfg, indent=1, ensure_ascii=False).encode("utf-8"))
    return hp, text, vocab


def rewrite_log(path, upto):
    """Keep log.csv rows up to iteration `upto` (a resumed run redoes the ones after its checkpoint)."""
    rows = []
    if path.exists():
        rows = [r for r in csv.DictReader(path.open(encoding="utf-8")) if int(r["iteration"]) <= upto]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, LOG_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, buf.getvalue().encode("utf-8"))


def train(corpus, run, max_iters=None, max_minutes=None, device="auto", resume=False, progress=True, **overrides):
    """Train (or resume) the run in directory `run`; returns the newest checkpoint's metadata."""
    run = Path(run)
    if max_iters is None and max_minutes is None:
        max_iters = 5000
    hp, text, vocab = prepare_run(corpus, run, resume, overrides)
    device = pick_device(device)
    train_text, val_text = split(text, hp["val_frac"], hp["shuffle_lines"], hp["seed"])
    stream = BatchStream(vocab.encode(train_text), hp["batch_size"], hp["seq_length"])
    val_ids = vocab.encode(val_text)

    torch.manual_seed(hp["seed"])
    model = CharLSTM(len(vocab), hp["hidden"], hp["layers"], hp["dropout"], hp["cell"]).to(device)
    opt = make_optimizer(hp["optimizer"], model.parameters(), hp["lr"])
    iteration, state = 0, None
    if resume:
        checkpoints = list_checkpoints(run)
        if not checkpoints:
            raise TrainError(f"{run}: nothing to resume (no checkpoints yet)")
        iteration, state = restore(list(checkpoints.values())[-1], model, opt, device)
    rewrite_log(run / "log.csv", iteration)
    log = (run / "log.csv").open("a", encoding="utf-8", newline="")
    logger = csv.DictWriter(log, LOG_FIELDS)

    chars_per_iter = hp["batch_size"] * hp["seq_length"]
    last_iter = iteration + max_iters if max_iters is not None else math.inf
    deadline = time.time() + max_minutes * 60 if max_minutes is not None else math.inf
    timed = max_iters is None  # a time budget: the bar runs over seconds, the postfix says the iteration
    bar = tqdm(total=round(max_minutes * 60) if timed else max_iters, disable=not progress, dynamic_ncols=True,
               desc=f"train {run.name}", bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}"
               if timed else None)
    start = time.time()
    window_loss, window_start, window_n = torch.zeros((), device=device), time.time(), 0
    meta = None
    while True:
        iteration += 1
        x, y, new_epoch = stream.batch(iteration - 1)
        if new_epoch:
            state = None
        x, y = torch.as_tensor(x, device=device), torch.as_tensor(y, device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits, state = model(x, state)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), hp["grad_clip"])
        opt.step()
        window_loss += loss.detach()
        window_n += 1

        done = iteration >= last_iter or time.time() >= deadline
        checkpoint_now = done or is_checkpoint(iteration, hp["checkpoint_every"])
        if iteration % LOG_EVERY == 0 or checkpoint_now:
            train_loss = window_loss.item() / window_n
            if not math.isfinite(train_loss):
                raise TrainError(f"loss became {train_loss} at iteration {iteration}; lower --lr "
                                 f"(checkpoints up to the last good one are kept in {run / 'checkpoints'})")
            speed = window_n * chars_per_iter / (time.time() - window_start)
            row = dict(iteration=iteration, epoch=round(stream.epoch(iteration), 4), train_loss=round(train_loss, 5),
                       val_loss="", bits_per_char="", lr=opt.param_groups[0]["lr"], chars_per_s=round(speed),
                       elapsed_s=round(time.time() - start, 2))
            if checkpoint_now:
                val_loss = evaluate(model, val_ids)
                row.update(val_loss=round(val_loss, 5), bits_per_char=round(val_loss / math.log(2), 5))
                tensors, meta = training_state(model, opt, state, iteration, val_loss, vocab)
                save_checkpoint(run / "checkpoints" / f"{meta['name']}.safetensors", tensors, meta)
                text = sample(model, vocab, length=500, seed=hp["seed"])
                atomic_write(run / "samples" / f"{meta['name']}.txt", text.encode("utf-8"))
                bar.write(f"{meta['name']}: val loss {val_loss:.4f} nats ({val_loss / math.log(2):.3f} bits/char)")
            logger.writerow(row)
            log.flush()
            bar.set_postfix(iter=iteration, loss=f"{train_loss:.3f}", chars_s=f"{speed:,.0f}", refresh=False)
            window_loss, window_start, window_n = torch.zeros((), device=device), time.time(), 0
        bar.update(min(round(time.time() - start), bar.total) - bar.n if timed else 1)
        if done:
            break
    bar.close()
    log.close()
    return meta


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m model.train", description="Train a character LSTM on a UTF-8 text.")
    p.add_argument("corpus", help="a UTF-8 text file")
    p.add_argument("--run", required=True, help="run directory to create (or --resume), e.g. runs/wp")
    p.add_argument("--layers", type=int, help=f"LSTM layers (default {DEFAULTS['layers']})")
    p.add_argument("--hidden", type=int, help=f"cells per layer (default {DEFAULTS['hidden']})")
    p.add_argument("--seq-length", type=int, help=f"steps of backprop through time (default {DEFAULTS['seq_length']})")
    p.add_argument("--batch-size", type=int, help=f"parallel streams per batch (default {DEFAULTS['batch_size']})")
    p.add_argument("--lr", type=float, help=f"learning rate (default {DEFAULTS['lr']})")
    p.add_argument("--dropout", type=float, help="dropout between layers and before the output (default 0)")
    p.add_argument("--optimizer", choices=["adam", "rmsprop"], help="default adam")
    p.add_argument("--grad-clip", type=float, help=f"clip gradient norm (default {DEFAULTS['grad_clip']})")
    p.add_argument("--model", dest="cell", choices=["lstm", "gru", "rnn"], help="default lstm (the dashboard needs lstm)")
    p.add_argument("--val-frac", type=float, help=f"last fraction of the text kept for validation (default {DEFAULTS['val_frac']})")
    p.add_argument("--shuffle-lines", action="store_const", const=True, help="shuffle lines before splitting (one item per line corpora)")
    p.add_argument("--seed", type=int, help="default 0")
    p.add_argument("--checkpoint-every", type=int, help="after the early schedule (100..2000), every K iterations (default 1000)")
    p.add_argument("--max-iters", type=int, help="stop after N more iterations")
    p.add_argument("--max-minutes", type=float, help="stop after M minutes (whichever limit comes first; default 5000 iterations)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint of --run")
    args = vars(p.parse_args(argv))
    fixed = {k: args.pop(k) for k in ["corpus", "run", "max_iters", "max_minutes", "device", "resume"]}
    overrides = {k: v for k, v in args.items() if v is not None}
    try:
        meta = train(**fixed, **overrides)
    except (TrainError, CorpusError, CheckpointError, ValueError) as e:
        sys.exit(f"error: {e}")
    except KeyboardInterrupt:
        sys.exit("interrupted: checkpoints written so far are intact; continue with --resume")
    print(f"done: {meta['name']}, val loss {meta['val_loss']:.4f} nats ({meta['val_loss'] / math.log(2):.3f} bits/char)")


if __name__ == "__main__":
    main()
