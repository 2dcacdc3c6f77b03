"""Intervention speed: one intervention over a 5,000-char window end to end (read the recorded state, re-run
with a cell clamped inside quotes, colour levels of the change in loss) vs a bare fused forward (embedding ->
nn.LSTM -> decoder) over the same window, in this process; and the "which cells matter" ranking of every cell
at one position with 200 chars of context, and the floor of that ranking: its matmuls alone, timed as
calls of its shape to the loops' own matmul (model/matmul.py).

    python bench/intervene_speed.py [--run runs/bench-intervene] [--window 5000] [--context 200] [--repeat 3]

Builds the run on first use (2x256, trained briefly on the demo's War and Peace excerpt, recorded over 20,000
validation chars) and reuses it after. Runs alternate and the best of each counts (this machine's speed drifts).

Last line: ratio=<intervention time / bare forward time> (goals on 2 cores: window <= 1 s, ranking <= 2 s).
"""
import argparse
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads: spin-waiting slows a busy 2-core box
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import numpy as np  # noqa: E402
import torch  # noqa: E402

from model import matmul, rundir  # noqa: E402
from model.checkpoint import load_model  # noqa: E402
from model.intervene import Change, cells_that_matter, intervene  # noqa: E402
from model.record import record_run  # noqa: E402
from model.recording import Recording  # noqa: E402
from model.train import train  # noqa: E402
from viz.colors import quantize  # noqa: E402
from viz.concepts import concept_values  # noqa: E402

CORPUS = ROOT / "demo" / "war_and_peace_excerpt.txt"


def cpu():
    info = Path("/proc/cpuinfo").read_text()
    name = re.search(r"model name\s*:\s*(.*)", info)
    flags = set(re.search(r"flags\s*:\s*(.*)", info)[1].split())
    simd = "avx512f" if "avx512f" in flags else "avx2" if "avx2" in flags else "no avx2"
    return f"{name[1] if name else 'unknown CPU'}, {simd}, {torch.get_num_threads()} threads"


def build(run):
    """The run's newest recording, training and recording it first if there is none."""
    if not rundir.recordings(run):
        print(f"building {run}: 2x256, 300 iterations on {CORPUS.name}, recorded over 20,000 chars", flush=True)
        train(CORPUS, run, max_iters=300, layers=2, hidden=256, checkpoint_every=300, progress=False)
        record_run(run, max_chars=20_000, progress=False)
    return Recording.open(rundir.recording_path(run))


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bare_forward(model, rec, start, stop):
    ids = torch.as_tensor([rec.vocab.index(ch) for ch in rec.text[start:stop]])

    @torch.no_grad()
    def forward():
        model.head(model.rnn(model.embed(ids[:, None]))[0]).topk(5, -1)
    return forward


def ranking_matmuls(layers, hidden, context):
    """(FLOPs of the ranking's matmuls, the seconds they take at the loops' matmul rate, measured now on the
    ranking's own shape): its floor, whatever the code around them. Group k (one stream per cell of layer k, and
    group 0 the unchanged run too) runs its recurrent matmul at layers k.. and an input projection above k."""
    rows = sum((hidden + (k == 0)) * (2 * (layers - k) - 1) for k in range(layers)) * (context + 1)
    flops = rows * 2 * hidden * 4 * hidden
    a, w, bias = torch.randn(hidden + 1, hidden), torch.randn(hidden, 4 * hidden), torch.randn(4 * hidden)
    out = torch.empty(hidden + 1, 4 * hidden)
    reps = max(1, rows // (hidden + 1) // 4)
    matmul.addmm(bias, a, w, out)
    start = time.perf_counter()
    for _ in range(reps):
        matmul.addmm(bias, a, w, out)
    rate = 2 * (hidden + 1) * hidden * 4 * hidden * reps / (time.perf_counter() - start)
    return flops, flops / rate


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--run", type=Path, default=ROOT / "runs" / "bench-intervene")
    p.add_argument("--window", type=int, default=5000)
    p.add_argument("--context", type=int, default=200)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    rec = build(args.run)
    model, _, _ = load_model(args.run, rec.checkpoint)
    start, stop = rec.n_chars - args.window - 100, rec.n_chars - 100
    position = rec.n_chars // 2

    def one_intervention():
        opened = Recording.open(rec.path)
        active = concept_values("quotes", opened.text)[start:stop]
        out = intervene(model, opened, [Change(1, 160, "clamp", -1.0)], start, stop, active, states=False)
        quantize(np.tanh(out.delta))

    bare, window, ranking, floor = [], [], [], []
    for _ in range(args.repeat):
        bare.append(timed(bare_forward(model, rec, start, stop)))
        window.append(timed(one_intervention))
        ranking.append(timed(lambda: cells_that_matter(model, rec, position, args.context)))
        flops, seconds = ranking_matmuls(model.config.layers, model.config.hidden, args.context)
        floor.append(seconds)
    cells = model.config.layers * model.config.hidden
    print(f"{model.config.layers}x{model.config.hidden}, recording of {rec.n_chars:,} chars; {cpu()}")
    print(f"bare fused forward + decoder over {args.window:,} chars: {min(bare) * 1e3:.0f} ms "
          f"(best of {', '.join(f'{t * 1e3:.0f}' for t in bare)})")
    print(f"intervention over {args.window:,} chars, end to end: {min(window) * 1e3:.0f} ms "
          f"(best of {', '.join(f'{t * 1e3:.0f}' for t in window)}; goal <= 1000)")
    print(f"ranking all {cells} cells at one position, {args.context} chars of context: {min(ranking) * 1e3:.0f} ms "
          f"(best of {', '.join(f'{t * 1e3:.0f}' for t in ranking)}; goal <= 2000); its matmuls alone "
          f"({flops / 1e9:.0f} GFLOP) at the loops' matmul rate: {min(floor) * 1e3:.0f} ms")
    print(f"ratio={min(window) / min(bare):.2f}")


if __name__ == "__main__":
    main()
