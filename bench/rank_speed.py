"""How long scoring every cell of a full-size recording takes, against reading it once.

A synthetic 3x512 recording (c and h, float16) of 1,000,000 characters of War and Peace (bench/corpus.py), scored
against the quotes concept. Its values are counted once, as model/record.py does at the end of a recording
(model/value_counts.py), and that count is timed too; then the ranking with those counts kept, and the first
ranking of a recording made before counts were kept (which counts every position and keeps the counts).
Baseline, in the same process: one full warm read of both arrays (each is read once before, to warm the page
cache). Goal: all cells scored in <= 10 s on 2 cores.
Run: python bench/rank_speed.py   (writes ~6.5 GB to a temporary directory, removed at the end)
Last line: ratio=<ranking with kept counts / the read>.
"""
import os

os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # a spinning OpenMP pool starves the other core on a busy box

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.corpus import real_text  # noqa: E402
from model import value_counts  # noqa: E402
from model.recording import Recording, RecordingWriter  # noqa: E402
from viz.concepts import concept_values  # noqa: E402
from viz.ranking import WORKERS, auroc, score_cells  # noqa: E402

N_CHARS, LAYERS, CELLS, BLOCK = 1_000_000, 3, 512, 64


def write_recording(path, text, mask):
    """Smooth random series (a moving average of noise, as cell states drift rather than jump), shifted
    per block so no two blocks are equal; cell 0:7 of c is a planted quote detector."""
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((BLOCK, N_CHARS + 8), dtype=np.float32)
    cs = np.cumsum(noise, axis=1)
    base_c = ((cs[:, 8:] - cs[:, :-8]) / 2).astype(np.float16)
    base_h = np.tanh(base_c.astype(np.float32)).astype(np.float16)
    vocab = sorted(set(text))
    w = RecordingWriter(path, text, vocab, LAYERS, CELLS, ("c", "h"),
                        meta={"checkpoint": "iter-000100", "iteration": 100})
    for kind, base in (("c", base_c), ("h", base_h)):
        for layer in range(LAYERS):
            for start in range(0, CELLS, BLOCK):
                shift = int(rng.integers(1, N_CHARS))
                block = w.states[kind][layer, start:start + BLOCK]
                block[:, :shift] = base[:, N_CHARS - shift:]
                block[:, shift:] = base[:, :N_CHARS - shift]
    w.states["c"][0, 7] = (2.0 * mask + rng.standard_normal(N_CHARS)).astype(np.float16)
    w.finish()


def read_all(recording):
    """Copy every cell of c and h out of the memory maps once."""
    buf = np.empty((BLOCK, N_CHARS), np.float16)
    for kind in ("c", "h"):
        states = recording.array(kind)
        for layer in range(LAYERS):
            for start in range(0, CELLS, BLOCK):
                np.copyto(buf, states[layer, start:start + BLOCK])


def cpu_seconds():
    """CPU time of this process and its finished children (score_cells' worker processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def best_of_3(fn):
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    tmp_root = Path(tempfile.gettempdir())
    need = 2 * LAYERS * CELLS * N_CHARS * 2 + 512 * 2**20
    free = shutil.disk_usage(tmp_root).free
    if free < need:
        sys.exit(f"error: {tmp_root} has {free / 1e9:.1f} GB free, this benchmark needs {need / 1e9:.1f} GB")
    text = real_text(N_CHARS)  # the demo excerpt is 999,644 characters: its opening comes round again
    mask = concept_values("quotes", text)
    tmp = Path(tempfile.mkdtemp(prefix="rank_speed_", dir=tmp_root))
    try:
        t0 = time.perf_counter()
        write_recording(tmp / "iter-000100", text, mask)
        os.sync()  # 6 GB of dirty pages written back now, not by the kernel during the timings
        print(f"wrote a {LAYERS}x{CELLS} recording of {N_CHARS:,} chars (c, h): {time.perf_counter() - t0:.1f} s")
        rec = Recording.open(tmp / "iter-000100")

        one = rec.array("c")[0, 7]
        sort_s = best_of_3(lambda: np.argsort(one, kind="stable"))
        hist_s = best_of_3(lambda: auroc(one, mask))
        print(f"one cell: argsort {sort_s * 1e3:.0f} ms (before ranks and ties), histogram AUROC {hist_s * 1e3:.1f} ms")

        read_all(rec)  # warm the page cache
        t0 = time.perf_counter()
        read_all(rec)
        read_s = time.perf_counter() - t0
        size_gb = 2 * LAYERS * CELLS * N_CHARS * 2 / 1e9
        print(f"read c and h once (warm, {size_gb:.1f} GB): {read_s:.2f} s")

        t0 = time.perf_counter()
        value_counts.count(rec)
        kept_mb = sum(p.stat().st_size for p in (rec.path / value_counts.FOLDER).iterdir()) / 2**20
        print(f"count every cell's values once, as model.record does at a recording's end: "
              f"{time.perf_counter() - t0:.2f} s ({kept_mb:.0f} MB kept)")

        def ranking(what):
            t0, cpu0 = time.perf_counter(), cpu_seconds()
            scores = score_cells(rec, mask, kinds=("c", "h"))
            seconds, cpu_s = time.perf_counter() - t0, cpu_seconds() - cpu0
            best = scores.iloc[0]
            print(f"score all {len(scores)} cells vs quotes (AUROC, {N_CHARS:,} chars, {WORKERS} workers), {what}: "
                  f"{seconds:.2f} s ({cpu_s:.1f} s of CPU); best {best.kind} {best.layer}:{best.cell} "
                  f"score {best.score:.3f}")
            return seconds, scores

        kept_s, kept_scores = ranking("counts kept")
        shutil.rmtree(rec.path / value_counts.FOLDER)
        _, counted_scores = ranking("no counts kept yet (counts and keeps them)")
        assert counted_scores.equals(kept_scores)
        print(f"ratio={kept_s / read_s:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
