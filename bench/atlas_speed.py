"""Atlas speed: every cell (2 layers x 256, c and h) of a 100,000-char recording scored against every concept
(viz.atlas.compute, with the score cache beside the recording removed first: every concept in one pass over the
cells) vs reading all those cells once, in this process; and the ranking of one
concept (quotes) beside it.

    python bench/atlas_speed.py [--run runs/bench-atlas] [--chars 100000]

Builds the run on first use (2x256, trained briefly on the demo's War and Peace excerpt, recorded over
--chars validation characters) and reuses it after. Goal: the atlas in <= 15 s on 2 cores.

Last line: ratio=<atlas time / one read of every cell>.
"""
import argparse
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads: spin-waiting slows a busy 2-core box
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.intervene_speed import cpu  # noqa: E402
from bench.rank_speed import cpu_seconds  # noqa: E402
from model import rundir  # noqa: E402
from model.record import record_run  # noqa: E402
from model.recording import Recording  # noqa: E402
from model.train import train  # noqa: E402
from viz import atlas, score_cache  # noqa: E402
from viz.ranking import READ_ELEMENTS, rank_recording  # noqa: E402

CORPUS = ROOT / "demo" / "war_and_peace_excerpt.txt"


def build(run, chars):
    """The run's newest recording, training and recording it first if there is none."""
    if not rundir.recordings(run):
        print(f"building {run}: 2x256, 300 iterations on {CORPUS.name}, recorded over {chars:,} chars", flush=True)
        train(CORPUS, run, max_iters=300, layers=2, hidden=256, checkpoint_every=300, progress=False)
        record_run(run, max_chars=chars, progress=False)
    return Recording.open(rundir.recording_path(run))


def read_every_cell(rec):
    """Every cell of c and h read once, in the chunks the scorer reads (viz.ranking.READ_ELEMENTS)."""
    chunk = max(1, READ_ELEMENTS // rec.n_chars)
    for kind in ("c", "h"):
        for layer in range(rec.layers):
            for first in range(0, rec.cells, chunk):
                rec.rows(kind, layer, first, min(first + chunk, rec.cells))


def timed(fn):
    wall, cpu_time = time.perf_counter(), cpu_seconds()
    result = fn()
    return time.perf_counter() - wall, cpu_seconds() - cpu_time, result


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--run", type=Path, default=ROOT / "runs" / "bench-atlas")
    p.add_argument("--chars", type=int, default=100_000)
    args = p.parse_args()
    rec = build(args.run, args.chars)
    print(f"cpu: {cpu()}")
    print(f"recording: {rec.layers}x{rec.cells}, {rec.n_chars:,} chars ({rec.checkpoint})")
    read_every_cell(rec)  # warm the page cache: both sides then read from memory
    read_s, _, _ = timed(lambda: read_every_cell(rec))
    quotes_s, _, _ = timed(lambda: rank_recording(rec, "quotes"))
    shutil.rmtree(rec.path / score_cache.FOLDER, ignore_errors=True)  # scored from scratch, not read back
    atlas_s, atlas_cpu, (scores, metrics, left_out) = timed(lambda: atlas.compute(rec))
    best = atlas.best_concepts(scores, metrics)
    print(f"read every cell once: {read_s:.3f} s; rank one concept (quotes): {quotes_s:.2f} s")
    print(f"atlas: {len(scores):,} cells x {len(metrics)} concepts scored ({len(left_out)} left out, constant on "
          f"the text: {', '.join(left_out) or 'none'}) in {atlas_s:.2f} s ({atlas_cpu:.1f} s CPU) (goal <= 15 s)")
    print("interpretable fraction: " + ", ".join(f"{k} {v:.1%}" for k, v in atlas.fractions(best).items()))
    print(f"ratio={atlas_s / read_s:.2f}")


if __name__ == "__main__":
    main()
