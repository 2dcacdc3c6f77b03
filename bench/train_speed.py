"""Training speed: the project's loop (model.train) vs a bare fused nn.LSTM loop of the same config; or, with
--ddp N, N processes under torchrun (gloo, 1 thread each) vs 1 process with N threads, same global batch.

    python bench/train_speed.py [--iters 60] [--ddp 2]

Both run on the same War and Peace text, interleaved (A, B, A, B) because these machines are noisy. Figures
are chars/s medians over 10-iteration windows, excluding the first window. Last line: ratio=<project / bare>
for the 2x256 config (goal >= 0.9); with --ddp, ratio=<torchrun / 1 process> (on 2 cores DDP may well lose).
"""
import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import model.lstm  # noqa: F401  (first: it sets OMP_WAIT_POLICY before torch loads)
import torch
import torch.nn.functional as F

from bench.corpus import real_text
from bench.intervene_speed import cpu
from model.corpus import BatchStream, Vocab
from model.train import train

BATCH, SEQ = 64, 100


def bare_loop(ids, vocab_size, layers, hidden, iters):
    """The plainest correct loop: fused LSTM, Adam, clip, state carried; chars/s per 10-iteration window."""
    torch.manual_seed(0)
    embed, rnn = torch.nn.Embedding(vocab_size, hidden), torch.nn.LSTM(hidden, hidden, layers)
    head = torch.nn.Linear(hidden, vocab_size)
    params = [*embed.parameters(), *rnn.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=2e-3)
    stream = BatchStream(ids, BATCH, SEQ)
    state, speeds, t = None, [], time.time()
    for k in range(iters):
        x, y, _ = stream.batch(k)
        out, state = rnn(embed(torch.as_tensor(x)), state)
        state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(head(out).flatten(0, 1), torch.as_tensor(y).flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        loss.item()
        if (k + 1) % 10 == 0:
            speeds.append(10 * BATCH * SEQ / (time.time() - t))
            t = time.time()
    return statistics.median(speeds[1:])


def logged_speed(run):
    rows = list(csv.DictReader(open(run / "log.csv")))
    return statistics.median(float(r["chars_per_s"]) for r in rows[1:-1])


def project_loop(corpus, layers, hidden, iters):
    with tempfile.TemporaryDirectory() as tmp:
        train(corpus, Path(tmp) / "run", max_iters=iters, layers=layers, hidden=hidden, batch_size=BATCH,
              seq_length=SEQ, checkpoint_every=10**9, progress=False)
        return logged_speed(Path(tmp) / "run")


def torchrun_loop(corpus, layers, hidden, iters, ranks):
    """model.train under torchrun, one thread per rank; its log's speed is the global batch's."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["torchrun", "--nproc-per-node", str(ranks), "-m", "model.train", "--", str(corpus),
                        "--run", f"{tmp}/run", "--max-iters", str(iters), "--layers", str(layers), "--hidden",
                        str(hidden), "--batch-size", str(BATCH), "--seq-length", str(SEQ),
                        "--checkpoint-every", str(10**9)], check=True, capture_output=True,
                       cwd=Path(__file__).resolve().parents[1], env=dict(os.environ, OMP_NUM_THREADS="1"))
        return logged_speed(Path(tmp) / "run")


def against_bare(corpus, text, iters):
    """ratio of model.train to the bare loop, 2x256 (after 2x128's line)."""
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text[:900_000])
    for layers, hidden in [(2, 128), (2, 256)]:
        bare, proj = [], []
        for _ in range(2):
            bare.append(bare_loop(ids, len(vocab), layers, hidden, iters))
            proj.append(project_loop(corpus, layers, hidden, iters))
        b, q = statistics.median(bare), statistics.median(proj)
        print(f"{layers}x{hidden}: bare fused loop {b:,.0f} chars/s, model.train {q:,.0f} chars/s, ratio {q / b:.3f}")
    return q / b


def against_threads(corpus, iters, ranks):
    """ratio of torchrun with `ranks` ranks x 1 thread to 1 process x `ranks` threads, 2x256, same global batch."""
    torch.set_num_threads(ranks)
    one, ddp = [], []
    for _ in range(2):
        one.append(project_loop(corpus, 2, 256, iters))
        ddp.append(torchrun_loop(corpus, 2, 256, iters, ranks))
    a, b = statistics.median(one), statistics.median(ddp)
    print(f"2x256, global batch {BATCH}: 1 process x {ranks} threads {a:,.0f} chars/s, "
          f"torchrun {ranks} ranks x 1 thread (gloo) {b:,.0f} chars/s")
    return b / a


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--iters", type=int, default=60, help="iterations per measurement (< 100: no checkpoints)")
    p.add_argument("--ddp", type=int, metavar="N", help="torchrun with N ranks vs 1 process with N threads")
    args = p.parse_args()
    text = real_text(1_000_000)  # the demo excerpt is 999,644 characters: its opening comes round again
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "wp.txt"
        corpus.write_text(text, encoding="utf-8")
        print(f"{cpu()}; torch {torch.__version__}, batch {BATCH} x seq {SEQ}")
        ratio = against_threads(corpus, args.iters, args.ddp) if args.ddp else against_bare(corpus, text, args.iters)
    print(f"ratio={ratio:.3f}")

if __name__ == "__main__":
    main()
