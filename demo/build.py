"""The bundled demo run: trained and recorded on the shipped War and Peace excerpt on first start, reused after.

`python app.py` with no run serves runs/demo at once: on first start it calls start() and the model trains in a
background process (`python -m demo.build`) that records each checkpoint as it is written, so the pages show
the training's progress and each checkpoint as soon as it is recorded. The recipe is tuned for a quote cell
within a 2.5-minute first start on 2 slow cores: width over depth (a 1x256 LSTM grows one where a 2x128 does
not, measured in session 1), and many small updates (batch 32 x 50 steps at lr 3e-3): measured here, it reached
val loss 1.477 and a quote cell of AUROC 0.994 in ~1,950 iterations, where batch 64 x 100 at 2e-3 managed 390
iterations, 1.615 and no quote cell (best 0.69).
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

from model import rundir
from model.errors import CellscopeError
from model.recording import Recording, RecordingError

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "demo" / "war_and_peace_excerpt.txt"
RUN = ROOT / "runs" / "demo"
RECIPE = dict(layers=1, hidden=256, batch_size=32, seq_length=50, lr=3e-3, max_minutes=2.5)
COMPARE_CHARS = 50_000  # every checkpoint is recorded over the same window, for the Compare view


def is_ready(run):
    recordings = rundir.recordings(run)
    if not recordings or set(recordings) != set(rundir.checkpoints(run)):
        return False
    try:
        return "f" in Recording.open(list(recordings.values())[-1]).kinds
    except RecordingError:
        return False


def ensure_demo_run(run=RUN, progress=True, recipe=RECIPE, record_chars=COMPARE_CHARS):
    """The demo run's path, training (a few minutes, with a progress bar) and recording it if needed (recipe and
    record_chars: smaller ones for tests)."""
    from model.record import record_run  # torch loads only in the process that trains
    from model.train import train

    run = Path(run)
    if is_ready(run):
        return run
    if not rundir.checkpoints(run):  # nothing usable from an earlier, interrupted first start
        shutil.rmtree(run, ignore_errors=True)
        print(f"cellscope: first start, training the demo model on {CORPUS.name} "
              f"({recipe['layers']}x{recipe['hidden']} LSTM)", flush=True)
        train(CORPUS, run, record=True, record_chars=record_chars, progress=progress, **recipe)
    record_run(run, all_checkpoints=True, max_chars=record_chars, progress=progress)  # any --record left undone
    record_run(run, max_chars=record_chars, gates=True, progress=progress)  # the newest with gates, for Find
    return run


def start(run=RUN, recipe=RECIPE, record_chars=COMPARE_CHARS):
    """The demo run's path at once: ready, or being built by a background process started here (unless one
    is at it already, from another worker of the same server). Its output goes to .NAME.build.log beside it."""
    run = Path(run)
    if is_ready(run) or rundir.is_writing(run, "train") or rundir.is_writing(run, "record"):
        return run
    run.mkdir(parents=True, exist_ok=True)
    with open(run.parent / f".{run.name}.build.log", "ab") as log:
        subprocess.Popen([sys.executable, "-m", "demo.build", str(run), json.dumps(recipe), str(record_chars)],
                         cwd=ROOT, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    print("cellscope: first start: the demo model trains in the background; the page shows its progress", flush=True)
    return run


def main():
    """`python -m demo.build [RUN [RECIPE_JSON RECORD_CHARS]]`: build the demo run; a failure is written to its
    progress.json for the page."""
    run = Path(sys.argv[1]) if len(sys.argv) > 1 else RUN
    recipe, record_chars = (json.loads(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (RECIPE, COMPARE_CHARS)
    try:
        ensure_demo_run(run, progress=False, recipe=recipe, record_chars=record_chars)
    except CellscopeError as e:
        if rundir.is_writing(run, "train") or rundir.is_writing(run, "record"):
            return  # another server worker's build holds the run: it carries on
        rundir.write_progress(run, state="failed", error=str(e))
        sys.exit(f"error: {e}")
    except Exception as e:
        rundir.write_progress(run, state="failed", error=f"{type(e).__name__}: {e}")
        raise


if __name__ == "__main__":
    main()
