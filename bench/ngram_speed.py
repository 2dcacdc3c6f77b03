"""How fast the character n-gram baseline (viz/ngram.py) fits and scores: the 20-gram on 3M characters (goal:
<= 60 s and <= 4 GB) and the per-character loss of 100k characters (goal: <= 10 s).

    python bench/ngram_speed.py

Each figure is shown beside a baseline timed in the same process, so a shared or slower machine moves both:
for the fit, one np.unique of the 3M ids with its inverse and counts (the fit makes one such call per order,
on larger keys); for the loss, the order-1 loss of the same 100k characters. The text is the demo's War and
Peace excerpt repeated (bench/corpus.py): past the first copy every 20-gram has been seen, so the tables hold
about 1M distinct n-grams per high order where 3M characters of fresh text would give up to 3M (memory then
about 28 bytes x distinct n-grams, summed over the orders). The last line is ratio=<fit s / baseline s>.
"""
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.corpus import real_text  # noqa: E402
from model.corpus import Vocab  # noqa: E402
from viz.ngram import fit  # noqa: E402

FIT_CHARS, LOSS_CHARS, ORDER = 3_000_000, 100_000, 20


def best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def main():
    flags = set(next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split())
    simd = "avx512f" if "avx512f" in flags else "avx2" if "avx2" in flags else "no avx2"
    print(f"machine: {os.cpu_count()} cores, {simd}, "
          f"load average {os.getloadavg()[0]:.2f} (shared with other work)")
    text = real_text(FIT_CHARS + LOSS_CHARS)
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text)
    train, test = ids[:FIT_CHARS], ids[FIT_CHARS:]
    before = peak_mb()

    base = best_of(lambda: np.unique(train, return_inverse=True, return_counts=True))
    start = time.perf_counter()
    model = fit(train, len(vocab), ORDER)
    fit_s = time.perf_counter() - start
    stored = sum(a.nbytes for level in model.orders for a in vars(level).values() if isinstance(a, np.ndarray))
    grams = [len(level.keys) for level in model.orders]
    print(f"fit {ORDER}-gram on {FIT_CHARS:,} chars: {fit_s:.2f} s; baseline np.unique of the ids {base:.3f} s "
          f"({fit_s / base:.0f}x)")
    print(f"memory: peak RSS {peak_mb():,.0f} MB ({peak_mb() - before:+,.0f} MB over the text and ids); tables "
          f"{stored / 2 ** 20:,.0f} MB; distinct n-grams per order {grams[0]:,} .. {max(grams):,}")

    unigram = best_of(lambda: model.loss(test, 1))
    loss_s = best_of(lambda: model.loss(test, ORDER))
    print(f"loss over {LOSS_CHARS:,} chars at order {ORDER}: {loss_s:.2f} s; baseline order 1 {unigram:.3f} s "
          f"({loss_s / unigram:.0f}x); mean {np.nanmean(model.loss(test)):.4f} nats")
    ok = fit_s <= 60 and peak_mb() <= 4096 and loss_s <= 10
    print(f"goals (fit <= 60 s, <= 4 GB; loss <= 10 s): {'met' if ok else 'NOT met'}")
    print(f"ratio={fit_s / base:.2f}")


if __name__ == "__main__":
    main()
