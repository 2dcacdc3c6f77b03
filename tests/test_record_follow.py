"""`model.record --follow`: every checkpoint recorded as training writes it, exactly as model.record records
it, and a follower killed mid-recording leaves nothing the app would open."""
import os
import shutil
import signal
import subprocess
import sys
import time

from conftest import ROOT
from model import rundir
from model.record import follow_run, record_run
from model.recording import Recording

TRAIN = ["-m", "model.train", "--layers", "1", "--hidden", "32", "--batch-size", "8", "--seq-length", "20",
         "--checkpoint-every", "100", "--max-iters", "300"]


def start_training(corpus, run):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, *TRAIN, str(corpus), "--run", str(run)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_follow_records_each_checkpoint_as_model_record_does(tmp_path, wp_excerpt_file):
    run = tmp_path / "runs" / "live"
    trainer = start_training(wp_excerpt_file, run)
    deadline = time.time() + 60
    while not rundir.is_writing(run, "train"):  # follow a run already under way
        assert trainer.poll() is None and time.time() < deadline, trainer.stderr.read()
        time.sleep(0.1)
    paths = follow_run(run, poll=0.2, max_chars=2000, warmup=200, progress=False)
    assert trainer.wait() == 0
    names = list(rundir.checkpoints(run))
    assert names == ["iter-000100", "iter-000200", "iter-000300"]
    assert [p.name for p in paths] == names and list(rundir.recordings(run)) == names
    again = tmp_path / "again" / "live"  # the same checkpoints, recorded afterwards by model.record
    shutil.copytree(run, again, ignore=shutil.ignore_patterns("recordings", ".*.lock"))
    record_run(again, all_checkpoints=True, max_chars=2000, warmup=200, progress=False)
    for name in names:
        for f in ("c.npy", "h.npy", "top5_ids.npy", "top5_p.npy", "loss.npy", "text.txt"):
            assert (run / "recordings" / name / f).read_bytes() == (again / "recordings" / name / f).read_bytes()


def test_a_follower_killed_mid_recording_leaves_nothing_to_open(tiny_run, tmp_path):
    run = tmp_path / "tiny"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("recordings", ".*.lock"))
    follower = subprocess.Popen([sys.executable, "-m", "model.record", str(run), "--follow", "--gates",
                                 "--max-chars", "40000", "--streams", "4"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not rundir.partial_recordings(run):
        assert follower.poll() is None and time.time() < deadline
        time.sleep(0.05)
    follower.send_signal(signal.SIGKILL)
    follower.wait()
    assert rundir.partial_recordings(run)  # the half-written recording is there, hidden ...
    for path in rundir.recordings(run).values():  # ... and every recording the app would list opens intact
        assert Recording.open(path).intact()
    assert not rundir.is_writing(run, "record")  # the kernel let go of the dead follower's lock
    record_run(run, progress=False, max_chars=2000)  # the next recorder removes what it left
    assert not rundir.partial_recordings(run)
