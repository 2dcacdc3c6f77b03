"""Fault script: a user's accidents against a real small run, and what held.

    python bench/faults.py [--trials 6]

Trains a small run on the demo's War and Peace excerpt (a minute), then: truncates a recording under an open
reader (a SIGBUS killed the server before), starts two trainers into one run in the same instant (both ran and
mixed the run before), opens Compare's rows with one checkpoint's recording broken (no rows at all before), and
kills a recording part-way, then records again (a hidden .partial folder stayed for good before). Prints one
line per fault and exits non-zero if any did not hold. The run selector's fault is a browser test
(tests/test_app_browse.py::test_the_run_selector_shows_the_run_the_page_shows).
"""
import argparse
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.corpus import CORPUS  # noqa: E402  (the demo excerpt)
from model import rundir  # noqa: E402

TINY = dict(layers=1, hidden=64, batch_size=16, seq_length=50)


def python(code, **kw):
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, **kw)


def truncated_under_a_reader(run):
    code = (f"import os\nfrom viz.app import data\ndata.set_runs([{str(run)!r}])\n"
            "rec = data.open_recording(data.runs().__iter__().__next__())\nrec.series(0, rec.cells - 1)\n"
            "os.truncate(rec.path / 'c.npy', os.path.getsize(rec.path / 'c.npy') // 2)\n"
            "try:\n    rec.series(0, rec.cells - 1)\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    out = python(code)
    held = out.returncode == 0 and "RecordingError" in out.stdout
    return held, f"exit {out.returncode} ({'SIGBUS' if out.returncode == -signal.SIGBUS else 'no signal'}): " \
                 f"{out.stdout.strip()[:110]}"


def _trainer(corpus, run, hidden, barrier, results):
    from model.errors import CellscopeError
    from model.train import train
    barrier.wait()
    try:
        train(corpus, run, max_iters=5, progress=False, **dict(TINY, hidden=hidden))
        results.put(("won", hidden))
    except CellscopeError as e:
        results.put((str(e), hidden))


def two_trainers(corpus, root, trials):
    ctx, clean = multiprocessing.get_context("spawn"), 0
    for trial in range(trials):
        run, barrier, results = root / f"race{trial}", ctx.Barrier(2), ctx.Queue()
        workers = [ctx.Process(target=_trainer, args=(corpus, run, h, barrier, results)) for h in (32, 16)]
        for w in workers:
            w.start()
        outcomes = [results.get(timeout=300) for _ in workers]
        for w in workers:
            w.join()
        winners = [h for what, h in outcomes if what == "won"]
        hidden = json.loads((run / "run.json").read_text())["model"]["hidden"] if (run / "run.json").exists() else None
        clean += len(winners) == 1 and hidden == winners[0]
    return clean == trials, f"{clean} of {trials} trials: exactly one trainer ran and the run is exactly its own"


def compare_with_a_broken_checkpoint(run):
    code = (f"from viz.app import create_app, data\nfrom model import rundir\ncreate_app([{str(run)!r}])\n"
            "from viz.app.compare import shown_checkpoints\nname = next(iter(data.runs()))\nproblems = []\n"
            "print(len(rundir.recordings(data.run_dir(name))), len(shown_checkpoints(name, list(data.recordings(name)),"
            " problems)), len(problems))\n")
    path = rundir.recordings(run)["iter-000100"] / "h.npy"
    os.truncate(path, path.stat().st_size // 3)
    out = python(code)
    found, shown, notices = map(int, out.stdout.split()) if out.returncode == 0 else (0, 0, 0)
    return shown == found - 1 and notices == 1, f"{shown} of {found} rows shown, {notices} notice"


def killed_recording(run, corpus):
    proc = subprocess.Popen([sys.executable, "-m", "model.record", str(run), "--text", str(corpus), "--max-chars",
                             "1000000", "--streams", "1"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # one stream over the whole corpus: long enough to kill
    deadline = time.time() + 120
    while not rundir.partial_recordings(run) and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(1)
    proc.kill()
    proc.wait()
    left = list(rundir.partial_recordings(run))
    again = subprocess.run([sys.executable, "-m", "model.record", str(run), "--max-chars", "2000"], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    held = bool(left) and not rundir.partial_recordings(run) and "removed an interrupted recording" in again.stderr
    said = [line for line in again.stderr.splitlines() if "removed" in line] or again.stderr.splitlines()[-1:]
    return held, f"killed, leaving {left}; the next record run: {said[0][:90] if said else '(nothing said)'}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=6)
    args = parser.parse_args()
    from model.record import record_run
    from model.train import train

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus = root / "corpus.txt"
        corpus.write_text(CORPUS.read_text(encoding="utf-8")[:200_000], encoding="utf-8")
        run = root / "small"
        train(corpus, run, max_iters=300, checkpoint_every=100, progress=False, **TINY)
        record_run(run, all_checkpoints=True, max_chars=5000, progress=False)
        results = [("recording truncated under an open reader", truncated_under_a_reader(shutil.copytree(run, root / "a"))),
                   ("two trainers started in the same instant", two_trainers(corpus, root, args.trials)),
                   ("Compare with one checkpoint's recording broken", compare_with_a_broken_checkpoint(
                       shutil.copytree(run, root / "b"))),
                   ("a recording killed part-way, then recorded again", killed_recording(shutil.copytree(run, root / "c"), corpus))]
    for what, (held, detail) in results:
        print(f"{'held  ' if held else 'FAILED'}  {what}: {detail}")
    sys.exit(0 if all(held for _, (held, _) in results) else 1)


if __name__ == "__main__":
    main()
