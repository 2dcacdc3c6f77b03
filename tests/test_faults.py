"""Faults as a user's accidents make them: a recording truncated under the server, two trainers started in the
same instant, a recording killed part-way. Each test reproduces the failure first seen (SIGBUS, a mixed run,
a hidden .partial folder left for good)."""
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import ROOT
from model import rundir
from model.record import record_run
from model.recording import Recording

RACE_TRIALS = 4


def test_a_recording_truncated_after_it_was_opened_is_a_notice_not_sigbus(tiny_run, tmp_path):
    """The server's reader, in a process of its own (a SIGBUS would kill it with signal 7)."""
    run = tmp_path / "tiny"
    shutil.copytree(tiny_run, run)
    code = textwrap.dedent(f"""
        import os, sys
        from model.errors import CellscopeError
        from viz.app import data
        data.set_runs([{str(run)!r}])
        rec = data.open_recording("tiny", "iter-000150")
        last = rec.cells - 1
        before = rec.series(1, last)                 # read once, as a first page view would
        path = rec.path / "c.npy"
        os.truncate(path, os.path.getsize(path) // 2)
        for read in (lambda: rec.series(1, last), lambda: data.open_recording("tiny", "iter-000150").series(1, last)):
            try:
                read()
                sys.exit("read past the new end of c.npy without an error")
            except CellscopeError as e:
                print(e)
        print(data.open_recording("tiny", "iter-000100").series(1, last)[:3])  # the next request is answered
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    first, second, answer = result.stdout.strip().splitlines()
    assert "changed on disk" in first
    assert "c.npy holds" in second and "truncated" in second  # reopened: the size no longer fits meta.json
    assert answer.startswith("[")


def _trainer(corpus, runs, hidden, barrier, results):
    from model.errors import CellscopeError
    from model.train import train
    for trial in range(RACE_TRIALS):
        barrier.wait()
        try:
            train(corpus, runs / f"race{trial}", max_iters=3, layers=1, hidden=hidden, batch_size=4,
                  seq_length=20, progress=False)
            results.put((trial, hidden, "won"))
        except CellscopeError as e:
            results.put((trial, hidden, str(e)))


def test_two_trainers_started_in_the_same_instant_leave_exactly_one_run(wp_excerpt_file, tmp_path):
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_trainer, args=(wp_excerpt_file, tmp_path, hidden, barrier, results))
               for hidden in (16, 8)]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=300) for _ in range(2 * RACE_TRIALS)]
    for w in workers:
        w.join(60)
    for trial in range(RACE_TRIALS):
        mine = [(hidden, what) for t, hidden, what in outcomes if t == trial]
        winners = [hidden for hidden, what in mine if what == "won"]
        assert len(winners) == 1, mine
        refusal = next(what for hidden, what in mine if what != "won")
        assert "\n" not in refusal and ("being trained by process" in refusal or "already holds a run" in refusal)
        run = tmp_path / f"race{trial}"
        config = json.loads((run / "run.json").read_text())
        assert config["model"]["hidden"] == winners[0]  # the run is exactly the winner's
        from model.checkpoint import load_checkpoint
        tensors, _ = load_checkpoint(rundir.checkpoint_path(run))
        assert tensors["model.embed.weight"].shape[1] == winners[0]
        logged = [int(r["iteration"]) for r in rundir.read_log(run)]
        assert logged == sorted(set(logged)) and logged[-1] == 3  # one trainer's rows, not two


def test_a_second_trainer_is_refused_in_one_line_naming_the_holder(wp_excerpt_file, tmp_path):
    run = tmp_path / "held"
    with rundir.writer_lock(run, "train"):
        code = (f"from model.train import main; main([{str(wp_excerpt_file)!r}, '--run', {str(run)!r}, "
                "'--max-iters', '2', '--hidden', '8', '--layers', '1'])")
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert rundir.is_writing(run, "train")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert f"being trained by process {os.getpid()}" in result.stderr
    assert not run.exists()  # the folder the lock made for a new run goes with it: nothing was trained there


def test_an_interrupted_recording_is_listed_then_cleaned_by_the_next_record_run(tiny_run, tmp_path, capsys):
    run = tmp_path / "tiny"
    shutil.copytree(tiny_run, run)
    shutil.rmtree(run / "recordings" / "iter-000150")
    partial = run / "recordings" / ".iter-000150.partial"  # what a killed model.record leaves
    partial.mkdir()
    np.save(partial / "c.npy", np.zeros((2, 32, 1000), np.float16))
    assert list(rundir.partial_recordings(run)) == ["iter-000150"] and not rundir.is_writing(run, "record")
    with pytest.raises(Exception, match="interrupted"):
        Recording.open(run / "recordings" / "iter-000150")
    record_run(run, "iter-000150", max_chars=3000, gates=True, warmup=500, progress=False)
    assert "removed an interrupted recording of iter-000150" in capsys.readouterr().err
    assert not partial.exists() and Recording.open(run / "recordings" / "iter-000150").n_chars == 3000


def test_a_recording_in_progress_is_not_cleaned(tiny_run, tmp_path):
    run = tmp_path / "tiny"
    shutil.copytree(tiny_run, run)
    partial = run / "recordings" / ".iter-000100.partial"
    partial.mkdir()
    code = f"from model.record import main; main([{str(run)!r}, '--checkpoint', 'iter-000050', '--force'])"
    with rundir.writer_lock(run, "record"):  # as a recorder still writing that folder would
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "being recorded by process" in result.stderr
    assert partial.exists()
