"""Recording speed: model.record (c and h of every layer, top-5, loss, written to disk) vs a bare fused
forward (embedding -> nn.LSTM -> decoder) over the same text, in this process; plus bytes on disk per
character and the peak anonymous memory while recording 1M characters (it must stay bounded: blocks go to
disk as they are made). A recording of 524,288 chars or more ends by counting each cell's values
(model/value_counts.py); that count is timed again after the runs and printed too.

    python bench/record_speed.py [--chars 1000000] [--layers 2 --hidden 256] [--streams 64] [--method loop]

Bare forwards and recordings alternate (bare, record, bare, record, bare) and the best of each counts.

Last line: ratio=<record chars/s / bare forward chars/s> (goal >= 0.5 for 2x256, issue #13).
"""
import argparse
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import model.lstm  # noqa: F401  (first: it sets OMP_WAIT_POLICY before torch loads)
import torch

from bench.corpus import CORPUS, real_text
from bench.intervene_speed import cpu
from model.checkpoint import load_model
from model import value_counts
from model.record import record_run
from model.recording import Recording
from model.train import train


def anon_rss():
    """Resident anonymous memory (bytes): what the process holds, not the file pages of its memory maps."""
    return int(re.search(r"RssAnon:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024


class PeakMemory:
    def __enter__(self):
        self.base, self.peak, self.running = anon_rss(), 0, True
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()
        return self

    def watch(self):
        while self.running:
            self.peak = max(self.peak, anon_rss())
            time.sleep(0.02)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()


@torch.no_grad()
def bare_forward(model, ids, streams, chunk=256):
    device = next(model.parameters()).device
    per = len(ids) // streams
    x = torch.as_tensor(ids[:streams * per].reshape(streams, per).T.copy(), device=device)
    state, start = None, time.time()
    for t in range(0, per, chunk):
        out, state = model.rnn(model.embed(x[t:t + chunk]), state)
        model.head(out).topk(5, -1)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return streams * per / (time.time() - start)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--chars", type=int, default=1_000_000)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--streams", type=int, default=64)
    p.add_argument("--method", default="auto", choices=["auto", "loop", "fused"])
    p.add_argument("--gates", action="store_true")
    p.add_argument("--repeat", type=int, default=2, help="recordings, each followed by a bare forward (best counts)")
    p.add_argument("--corpus", type=Path, default=CORPUS, help="text to record (default: War and Peace)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        text_file = Path(tmp) / "wp.txt"
        # 1M characters + 1 is more than the demo excerpt holds: real_text repeats it (bench/corpus.py)
        text_file.write_text(real_text(args.chars + 1, path=args.corpus), encoding="utf-8")
        train(text_file, run, max_iters=1, layers=args.layers, hidden=args.hidden, progress=False)
        net, vocab, _ = load_model(run, device="cuda" if torch.cuda.is_available() else "cpu")
        ids = vocab.encode(text_file.read_text(encoding="utf-8")[:args.chars])
        # interleaved, best of each: this machine's speed drifts by 10% from minute to minute
        bares, records, peaks = [bare_forward(net, ids, args.streams)], [], []
        for _ in range(args.repeat):
            with PeakMemory() as mem:
                start = time.time()
                out = record_run(run, text_file=text_file, max_chars=args.chars, streams=args.streams,
                                 gates=args.gates, method=args.method, force=True, progress=False)[0]
                records.append(time.time() - start)
            peaks.append((mem.peak - mem.base, mem.base))
            bares.append(bare_forward(net, ids, args.streams))
        seconds = min(records)
        rec_speed = args.chars / seconds
        on_disk = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        counting = None
        if (out / value_counts.FOLDER).exists():  # a big recording ends by counting its values: how long that took
            shutil.rmtree(out / value_counts.FOLDER)
            start = time.time()
            value_counts.count(Recording.open(out))
            counting = time.time() - start
    bare = max(bares)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else cpu()
    print(f"{args.layers}x{args.hidden}, {args.chars:,} chars, {args.streams} streams, method {args.method}, {device}")
    print(f"bare fused forward + decoder: {bare:,.0f} chars/s (best of {', '.join(f'{b:,.0f}' for b in bares)})")
    print(f"model.record ({'c, h, i, f, o' if args.gates else 'c, h'}, top-5, loss, to disk): {rec_speed:,.0f} chars/s "
          f"({seconds:.1f} s; best of {', '.join(f'{r:.1f} s' for r in records)})")
    if counting is not None:
        print(f"of which counting each cell's values at the end (model/value_counts.py): about {counting:.1f} s")
    print(f"on disk: {on_disk / args.chars:,.0f} bytes/char ({on_disk / 2**20:,.0f} MiB)")
    peak, base = max(peaks)
    print(f"peak anonymous memory while recording: {peak / 2**20:,.0f} MiB above the {base / 2**20:,.0f} MiB before")
    print(f"ratio={rec_speed / bare:.3f}")


if __name__ == "__main__":
    main()
