"""Train a character LSTM on a text file, char-rnn style, keeping every checkpoint; and its CLI.

    python -m model.train war_and_peace.txt --run runs/wp --layers 2 --hidden 256 --max-minutes 15

Checkpoints are dense early and sparse late so the dashboard can show detectors appearing. Each holds the
weights, the optimizer state, the carried hidden state and the RNG, so --resume continues exactly as if
the run had not stopped. Under torchrun it trains data-parallel (model/distributed.py), rank 0 writing.
"""
import contextlib
import dataclasses
import hashlib
import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from model.lstm import CharLSTM, ModelConfig, pick_device  # first: it sets torch's environment before torch loads
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from tqdm import tqdm  # noqa: E402

from model import distributed, rundir  # noqa: E402
from model.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from model.corpus import BatchStream, Vocab, read_text, split  # noqa: E402
from model.errors import ArgumentParser, CellscopeError, fail, reported  # noqa: E402
from model.record import record_run  # noqa: E402
from model.sample import sample  # noqa: E402

EARLY_CHECKPOINTS = (100, 200, 300, 500, 700, 1000, 1500, 2000)
LOG_EVERY = 10


@dataclass
class Hparams:
    """A run's hyperparameters, stored in run.json; a resumed run keeps them."""
    layers: int = 2
    hidden: int = 128
    seq_length: int = 50
    batch_size: int = 32
    lr: float = 3e-3
    dropout: float = 0.0
    optimizer: str = "adam"
    grad_clip: float = 5.0
    cell: str = "lstm"
    val_frac: float = 0.1
    shuffle_lines: bool = False
    seed: int = 0
    checkpoint_every: int = 1000


DEFAULTS = Hparams()


class TrainError(CellscopeError):
    """Training cannot start or go on."""


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
    meta = dict(name=rundir.checkpoint_name(iteration), iteration=iteration, val_loss=val_loss, vocab=vocab.chars,
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


def resumed_run(corpus, run, text, vocab, overrides):
    """The hyperparameters of the run being resumed, after checking that the corpus and flags match it."""
    cfg = rundir.read_run(run)
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
    return Hparams(**cfg["hparams"])


def model_config(vocab, hp):
    return ModelConfig(len(vocab), hp.hidden, hp.layers, hp.dropout, hp.cell)


def hparams(corpus, run, text, vocab, resume, overrides):
    """The run's hyperparameters (the resumed run's, or the defaults with the flags given), checked against
    the number of processes before any process joins the others or writes."""
    hp = resumed_run(corpus, run, text, vocab, overrides) if resume else dataclasses.replace(DEFAULTS, **overrides)
    if not resume and distributed.is_rank0():  # rank 0 writes the run: the others find its run.json in a moment
        check_new_run(corpus, run, text, hp)
    world = distributed.env_ranks()[1]
    if hp.batch_size % world:
        raise TrainError(f"--batch-size {hp.batch_size} does not split over {world} processes; "
                         f"use a multiple of {world}")
    return hp


def check_new_run(corpus, run, text, hp):
    """A new run needs a free --run and a text long enough for its split and batches (refused before any lock,
    so another run's files, progress.json included, are never touched)."""
    if (run / "run.json").exists() or rundir.checkpoints(run):
        raise TrainError(f"{run} already holds a run; pass --resume to continue it or choose another --run")
    train_text, val_text = split(text, hp.val_frac, hp.shuffle_lines, hp.seed)
    if len(val_text) < 2:
        raise TrainError(f"{corpus}: too short for a validation split ({len(text)} characters)")
    BatchStream(np.zeros(len(train_text), np.int64), hp.batch_size, hp.seq_length)  # fails early if too short


def new_run(corpus, run, text, vocab, hp):
    """run.json of a new run (written exclusively: a run started in the same instant is refused)."""
    train_text, val_text = split(text, hp.val_frac, hp.shuffle_lines, hp.seed)
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run / "samples").mkdir(exist_ok=True)
    rundir.write_run(run, dict(
        corpus=str(Path(corpus).resolve()), corpus_sha256=sha256_of(text), vocab=vocab.chars,
        split=dict(val_frac=hp.val_frac, shuffle_lines=hp.shuffle_lines, seed=hp.seed,
                   n_train=len(train_text), n_val=len(val_text)),
        model=dataclasses.asdict(model_config(vocab, hp)),
        hparams=dataclasses.asdict(hp), versions=dict(torch=torch.__version__, python=platform.python_version())))


def save(run, model, opt, state, iteration, vocab, val_ids, seed):
    """Evaluate, then write the checkpoint and its sample; returns the checkpoint's metadata."""
    val_loss = evaluate(model, val_ids)
    tensors, meta = training_state(model, opt, state, iteration, val_loss, vocab)
    save_checkpoint(run / "checkpoints" / f"{meta['name']}.safetensors", tensors, meta)
    rundir.write_sample(run, meta["name"], sample(model, vocab, length=500, seed=seed))
    return meta


class LossWindow:
    """The mean training loss and speed since the last log row (summed on the device: no sync per step)."""

    def __init__(self, device, chars_per_iter):
        self.device, self.chars_per_iter = device, chars_per_iter
        self.reset()

    def reset(self):
        self.total, self.n, self.since = torch.zeros((), device=self.device), 0, time.time()

    def add(self, loss):
        self.total += loss.detach()
        self.n += 1

    def row(self, iteration, epoch, lr, elapsed, run):
        """A log.csv row (val loss empty), then a fresh window; TrainError if the loss is not finite."""
        train_loss = distributed.mean(self.total).item() / self.n  # the global batch's mean
        if not math.isfinite(train_loss):
            raise TrainError(f"loss became {train_loss} at iteration {iteration}; lower --lr "
                             f"(checkpoints up to the last good one are kept in {run / 'checkpoints'})")
        speed = self.n * self.chars_per_iter / (time.time() - self.since)
        self.reset()
        return dict(iteration=iteration, epoch=round(epoch, 4), train_loss=round(train_loss, 5), val_loss="",
                    bits_per_char="", lr=lr, chars_per_s=round(speed), elapsed_s=round(elapsed, 2))


def progress_bar(run, max_iters, max_minutes, show):
    """Over iterations, or over seconds for a time budget (the postfix then says the iteration)."""
    if max_iters is not None:
        return tqdm(total=max_iters, disable=not show, dynamic_ncols=True, desc=f"train {run.name}")
    return tqdm(total=round(max_minutes * 60), disable=not show, dynamic_ncols=True, desc=f"train {run.name}",
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}")


def prepare(corpus, text, vocab, hp, run, resume, device):
    """Everything the loop needs: batches, validation ids, model and optimizer, and for a resumed run its
    iteration and this rank's part of the carried hidden state (rank 0 of a new run writes run.json)."""
    if not resume and distributed.is_rank0():
        new_run(corpus, run, text, vocab, hp)
    train_text, val_text = split(text, hp.val_frac, hp.shuffle_lines, hp.seed)
    stream = BatchStream(vocab.encode(train_text), hp.batch_size, hp.seq_length)
    torch.manual_seed(hp.seed)
    model = CharLSTM(model_config(vocab, hp)).to(device)
    opt = make_optimizer(hp.optimizer, model.parameters(), hp.lr)
    iteration, state = 0, None
    if resume:
        found = rundir.checkpoints(run)
        if not found:
            raise TrainError(f"{run}: nothing to resume (no checkpoints yet)")
        iteration, state = restore(list(found.values())[-1], model, opt, device)
        state = distributed.shard(state, hp.batch_size)
    return stream, vocab.encode(val_text), model, opt, iteration, state


def train(corpus, run, max_iters=None, max_minutes=None, device="auto", resume=False, progress=True, record=False,
          record_chars=100_000, **overrides):
    """Train (or resume) the run in directory `run`; returns the newest checkpoint's metadata (None on every
    rank but rank 0 under torchrun). One trainer per run: a second one started on the same --run, even in the same
    instant, is refused and changes nothing. record: record each checkpoint as model.record does."""
    device = pick_device(device)
    text = read_text(corpus)  # a bad corpus is refused before the run's folder is made
    vocab, run, record_chars = Vocab.from_text(text), Path(run), record_chars if record else 0
    hp = hparams(corpus, run, text, vocab, resume, overrides)
    main_rank = distributed.is_rank0()
    with distributed.process_group(device) as device:
        with rundir.writer_lock(run, "train") if main_rank else contextlib.nullcontext():
            try:
                return training_loop(corpus, text, vocab, hp, run, max_iters, max_minutes, device, resume,
                                     progress and main_rank, record_chars)
            except BaseException as e:  # the dashboard says why training stopped
                if main_rank:
                    why = (str(e) if isinstance(e, CellscopeError) else
                           "interrupted" if isinstance(e, KeyboardInterrupt) else f"{type(e).__name__}: {e}")
                    rundir.write_progress(run, state="failed", error=why)
                raise


def training_loop(corpus, text, vocab, hp, run, max_iters, max_minutes, device, resume, progress, record_chars):
    if max_iters is None and max_minutes is None:
        max_iters = 5000
    main_rank = distributed.is_rank0()
    stream, val_ids, model, opt, iteration, state = prepare(corpus, text, vocab, hp, run, resume, device)
    ddp = distributed.wrap(model, device)
    streams = distributed.my_streams(hp.batch_size)
    if main_rank:
        rundir.rewrite_log(run, iteration)
        log_file, log = rundir.append_log(run)

    last_iter = iteration + max_iters if max_iters is not None else math.inf
    deadline = time.time() + max_minutes * 60 if max_minutes is not None else math.inf
    bar = progress_bar(run, max_iters, max_minutes, progress)
    window = LossWindow(device, hp.batch_size * hp.seq_length)
    start = time.time()
    meta = None
    if main_rank:  # for watchers (the dashboard's banner): the budget now, how it ended later
        rundir.write_progress(run, state="training", started=start, first_iteration=iteration, error=None,
                              last_iteration=last_iter if last_iter < math.inf else None,
                              deadline=deadline if deadline < math.inf else None)
    while True:
        # forward, backward, update (the hidden state carried from the previous batch of each of this rank's
        # streams; under torchrun backward averages the gradients over the ranks, so clipping sees the global one)
        iteration += 1
        x, y, new_epoch = stream.batch(iteration - 1)
        if new_epoch:
            state = None
        x, y = torch.as_tensor(x[:, streams], device=device), torch.as_tensor(y[:, streams], device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits, state = ddp(x, state)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), hp.grad_clip)
        opt.step()
        window.add(loss)
        done = iteration >= last_iter or (deadline < math.inf and distributed.rank0_says(time.time() >= deadline))
        checkpoint_now = done or is_checkpoint(iteration, hp.checkpoint_every)
        row = None
        if checkpoint_now or iteration % LOG_EVERY == 0:  # a NaN loss stops here, before it is checkpointed
            row = window.row(iteration, stream.epoch(iteration), opt.param_groups[0]["lr"], time.time() - start, run)

        # evaluate and checkpoint (rank 0), record (every rank its share; outside the --max-minutes budget)
        if checkpoint_now:
            full_state = distributed.gathered(state)  # every rank's streams, so the checkpoint is a plain run's
            if main_rank:
                meta = save(run, model, opt, full_state, iteration, vocab, val_ids, hp.seed)
                row.update(val_loss=round(meta["val_loss"], 5), bits_per_char=round(meta["val_loss"] / math.log(2), 5))
                if progress:
                    bar.write(f"{meta['name']}: val loss {meta['val_loss']:.4f} nats "
                              f"({row['bits_per_char']:.3f} bits/char)")
            if record_chars:
                distributed.barrier()  # rank 0's checkpoint is on disk: every rank records its share of it
                began = time.time()
                record_run(run, checkpoints=rundir.checkpoint_name(iteration), max_chars=record_chars, progress=False)
                deadline += time.time() - began
                window.since += time.time() - began
                if main_rank and deadline < math.inf:
                    rundir.write_progress(run, deadline=deadline)

        # log
        if row and main_rank:
            log.writerow(row)
            log_file.flush()
            bar.set_postfix(iter=iteration, loss=f"{row['train_loss']:.3f}", chars_s=f"{row['chars_per_s']:,}",
                            refresh=False)
        bar.update(min(round(time.time() - start), bar.total) - bar.n if max_iters is None else 1)
        if done:
            break
    bar.close()
    if main_rank:
        log_file.close()
        rundir.write_progress(run, state="done")
    distributed.barrier()
    return meta


def parser():
    """The flags in char-rnn's groups; a flag left out keeps the default (or, with --resume, the run's value)."""
    p = ArgumentParser(prog="python -m model.train", description="Train a character LSTM on a UTF-8 text.")
    p.add_argument("corpus", help="a UTF-8 text file")
    p.add_argument("--run", required=True, help="run directory to create (or --resume), e.g. runs/wp")
    d = DEFAULTS
    data = p.add_argument_group("data")
    data.add_argument("--val-frac", type=float, help=f"last fraction of the text kept for validation (default {d.val_frac})")
    data.add_argument("--shuffle-lines", action="store_const", const=True,
                      help="shuffle lines before splitting (one item per line corpora)")
    model = p.add_argument_group("model")
    model.add_argument("--model", dest="cell", choices=["lstm", "gru", "rnn"],
                       help="default lstm (a GRU or RNN records h and its gates; interventions need an LSTM)")
    model.add_argument("--layers", type=int, help=f"recurrent layers (default {d.layers})")
    model.add_argument("--hidden", type=int, help=f"cells per layer (default {d.hidden})")
    model.add_argument("--dropout", type=float, help="dropout between layers and before the output (default 0)")
    optim = p.add_argument_group("optimisation")
    optim.add_argument("--seq-length", type=int, help=f"steps of backprop through time (default {d.seq_length})")
    optim.add_argument("--batch-size", type=int, help=f"parallel streams per batch (default {d.batch_size})")
    optim.add_argument("--lr", type=float, help=f"learning rate (default {d.lr})")
    optim.add_argument("--optimizer", choices=["adam", "rmsprop"], help="default adam")
    optim.add_argument("--grad-clip", type=float, help=f"clip gradient norm (default {d.grad_clip})")
    optim.add_argument("--seed", type=int, help="default 0")
    optim.add_argument("--max-iters", type=int, help="stop after N more iterations")
    optim.add_argument("--max-minutes", type=float,
                       help="stop after M minutes (whichever limit comes first; default 5000 iterations)")
    ckpt = p.add_argument_group("checkpoints")
    ckpt.add_argument("--checkpoint-every", type=int,
                      help=f"after the early schedule (100..2000), every K iterations (default {d.checkpoint_every})")
    ckpt.add_argument("--resume", action="store_true", help="continue from the newest checkpoint of --run")
    ckpt.add_argument("--record", action="store_true",
                      help="record each checkpoint as it is written, as model.record does (outside --max-minutes)")
    ckpt.add_argument("--record-chars", type=int, default=100_000,
                      help="validation characters to record (default 100000)")
    device = p.add_argument_group("device")
    device.add_argument("--device", default="auto", help="auto, cpu or cuda")
    return p


def main(argv=None):
    args = vars(parser().parse_args(distributed.script_args(argv)))  # `-- CORPUS ...`, as under torchrun
    fixed = {k: args.pop(k) for k in ["corpus", "run", "max_iters", "max_minutes", "device", "resume", "record",
                                      "record_chars"]}
    overrides = {k: v for k, v in args.items() if v is not None}
    with reported():
        try:
            meta = train(**fixed, **overrides)
        except KeyboardInterrupt:
            fail("interrupted: checkpoints written so far are intact; continue with --resume")
    if meta:  # rank 0's
        print(f"done: {meta['name']}, val loss {meta['val_loss']:.4f} nats "
              f"({meta['val_loss'] / math.log(2):.3f} bits/char)")


if __name__ == "__main__":
    main()
