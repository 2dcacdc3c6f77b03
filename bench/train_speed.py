"""Training speed: the project's loop (model.train) vs a bare fused nn.LSTM loop of the same config.

    python bench/train_speed.py [--iters 60]

Both run in this process on the same War and Peace text, interleaved (bare, project, bare, project) because
these machines are noisy. Figures are chars/s medians over 10-iteration windows, excluding the first window.
Last line: ratio=<project / bare> for the 2x256 config (goal >= 0.9).
"""
import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import model.lstm  # noqa: F401  (first: it sets OMP_WAIT_POLICY before torch loads)
import torch
import torch.nn.functional as F

from bench.corpus import real_text
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


def project_loop(corpus, layers, hidden, iters):
    with tempfile.TemporaryDirectory() as tmp:
        train(corpus, Path(tmp) / "run", max_iters=iters, layers=layers, hidden=hidden, batch_size=BATCH,
              seq_length=SEQ, checkpoint_every=10**9, progress=False)
        rows = list(csv.DictReader(open(Path(tmp) / "run" / "log.csv")))
    return statistics.median(float(r["chars_per_s"]) for r in rows[1:-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--iters", type=int, default=60, help="iterations per measurement (< 100: no checkpoints)")
    iters = p.parse_args().iters
    text = real_text(1_000_000)  # the demo excerpt is 999,644 characters: its opening comes round again
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "wp.txt"
        corpus.write_text(text, encoding="utf-8")
        vocab = Vocab.from_text(text)
        ids = vocab.encode(text[:900_000])
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH} x seq {SEQ}")
        ratio = None
        for layers, hidden in [(2, 128), (2, 256)]:
            bare, proj = [], []
            for _ in range(2):
                bare.append(bare_loop(ids, len(vocab), layers, hidden, iters))
                proj.append(project_loop(corpus, layers, hidden, iters))
            b, q = statistics.median(bare), statistics.median(proj)
            ratio = q / b
            print(f"{layers}x{hidden}: bare fused loop {b:,.0f} chars/s, model.train {q:,.0f} chars/s, ratio {ratio:.3f}")
    print(f"ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
