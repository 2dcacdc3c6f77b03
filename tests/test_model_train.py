"""Training: checkpoints, resume, sampling, the run directory; on a War and Peace excerpt."""
import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
import types

import pytest
import torch

from model import rundir
from model.checkpoint import load_checkpoint, load_model
from model.sample import sample
import model.train as train_module
from model.train import TrainError, evaluate, main, train

TINY = dict(layers=2, hidden=32, batch_size=16, seq_length=50)


def test_run_directory_has_the_design_files(tiny_run):
    assert set(rundir.checkpoints(tiny_run)) == {"iter-000050", "iter-000100", "iter-000150"}
    assert sorted(p.name for p in (tiny_run / "samples").iterdir()) == [
        "iter-000050.txt", "iter-000100.txt", "iter-000150.txt"]
    run = json.loads((tiny_run / "run.json").read_text())
    assert run["hparams"]["hidden"] == 32 and len(run["corpus_sha256"]) == 64 and run["split"]["val_frac"] == 0.1
    rows = list(csv.DictReader((tiny_run / "log.csv").open()))
    assert list(rows[0]) == ["iteration", "epoch", "train_loss", "val_loss", "bits_per_char", "lr",
                             "chars_per_s", "elapsed_s"]
    val_rows = [r for r in rows if r["val_loss"]]
    assert [int(r["iteration"]) for r in val_rows] == [50, 100, 150]
    for r in val_rows:
        assert math.isclose(float(r["bits_per_char"]), float(r["val_loss"]) / math.log(2), rel_tol=1e-3)
    assert float(val_rows[-1]["val_loss"]) < float(val_rows[0]["val_loss"]) < math.log(run["model"]["vocab_size"])
    progress = rundir.read_progress(tiny_run)  # the budget the dashboard's banner counts down, and the end
    assert progress["state"] == "done" and progress["first_iteration"] == 0 and progress["last_iteration"] == 150
    assert progress["deadline"] is None and progress["started"] <= (tiny_run / "log.csv").stat().st_mtime


def test_checkpoint_round_trip_gives_the_same_model(tiny_run):
    model, vocab, meta = load_model(tiny_run, "iter-000150")
    run = json.loads((tiny_run / "run.json").read_text())
    val_text = open(run["corpus"], encoding="utf-8").read()[-run["split"]["n_val"]:]
    assert math.isclose(evaluate(model, vocab.encode(val_text)), meta["val_loss"], rel_tol=1e-5)


def test_resume_continues_exactly_as_an_uninterrupted_run(tmp_path, wp_excerpt_file):
    straight = train(wp_excerpt_file, tmp_path / "a", max_iters=60, checkpoint_every=30, dropout=0.1, progress=False, **TINY)
    train(wp_excerpt_file, tmp_path / "b", max_iters=30, checkpoint_every=30, dropout=0.1, progress=False, **TINY)
    resumed = train(wp_excerpt_file, tmp_path / "b", max_iters=30, resume=True, progress=False)
    assert resumed["iteration"] == straight["iteration"] == 60
    assert resumed["val_loss"] == pytest.approx(straight["val_loss"], rel=1e-6)
    a, _ = load_checkpoint(tmp_path / "a" / "checkpoints" / "iter-000060.safetensors")
    b, _ = load_checkpoint(tmp_path / "b" / "checkpoints" / "iter-000060.safetensors")
    for name in a:
        if name.startswith("model."):
            torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6)
    log_b = [int(r["iteration"]) for r in csv.DictReader((tmp_path / "b" / "log.csv").open())]
    assert log_b == sorted(set(log_b))  # the resumed log has no duplicated iterations


def test_new_run_refuses_to_overwrite_an_existing_one(tiny_run, wp_excerpt_file):
    before = {p: p.stat().st_mtime_ns for p in [*rundir.checkpoints(tiny_run).values(), tiny_run / "progress.json"]}
    with pytest.raises(TrainError, match="already holds a run"):
        train(wp_excerpt_file, tiny_run, max_iters=5, progress=False, **TINY)
    after = {p: p.stat().st_mtime_ns for p in [*rundir.checkpoints(tiny_run).values(), tiny_run / "progress.json"]}
    assert after == before  # its progress.json too: the refusal does not say the other run failed


def test_nan_loss_aborts_with_a_clear_message(tmp_path, wp_excerpt_file, monkeypatch):
    import model.train as train_module
    real = train_module.F.cross_entropy
    monkeypatch.setattr(train_module.F, "cross_entropy", lambda *a, **k: real(*a, **k) * float("nan"))
    with pytest.raises(TrainError, match="loss became nan at iteration 10"):
        train(wp_excerpt_file, tmp_path / "nan", max_iters=50, progress=False, **TINY)
    assert not rundir.checkpoints(tmp_path / "nan")
    progress = rundir.read_progress(tmp_path / "nan")  # what the dashboard's banner says
    assert progress["state"] == "failed" and progress["error"].startswith("loss became nan at iteration 10")


def test_sampling_is_deterministic_for_a_seed(tiny_run):
    model, vocab, _ = load_model(tiny_run)
    a = sample(model, vocab, length=200, temperature=0.8, prime="\"Well, Prince", seed=3)
    assert a == sample(model, vocab, length=200, temperature=0.8, prime="\"Well, Prince", seed=3)
    assert a != sample(model, vocab, length=200, temperature=0.8, prime="\"Well, Prince", seed=4)
    assert a.startswith("\"Well, Prince") and len(a) == len("\"Well, Prince") + 200
    greedy = sample(model, vocab, length=50, argmax=True, seed=0)
    assert greedy == sample(model, vocab, length=50, argmax=True, seed=99)


def test_sample_cli_prints_text(tiny_run):
    out = subprocess.run([sys.executable, "-m", "model.sample", str(tiny_run), "--checkpoint", "iter-000100",
                          "--length", "80", "--prime", "The ", "--seed", "1"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("The ") and len(out.stdout) == 4 + 80 + 1


def test_killing_training_never_leaves_a_corrupt_checkpoint(tmp_path, wp_excerpt_file, capsys):
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "model.train", str(wp_excerpt_file), "--run", str(run), "--layers", "1",
           "--hidden", "256", "--batch-size", "16", "--seq-length", "20", "--checkpoint-every", "2",
           "--max-iters", "100000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while len(rundir.checkpoints(run)) < 3 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # lands at a random point, often inside a checkpoint write
    proc.wait()
    checkpoints = rundir.checkpoints(run)
    assert len(checkpoints) >= 3
    for path in checkpoints.values():
        load_checkpoint(path)  # raises if truncated
    main([str(wp_excerpt_file), "--run", str(run), "--resume", "--max-iters", "2"])  # an error would exit
    assert capsys.readouterr().out.splitlines()[-1].startswith("done: iter-")


def test_the_command_line_takes_its_arguments_after_a_double_dash_as_under_torchrun(tmp_path, wp_excerpt_file, capsys):
    main(["--", str(wp_excerpt_file), "--run", str(tmp_path / "dd"), "--layers", "1", "--hidden", "16",
          "--batch-size", "8", "--max-iters", "3"])
    assert capsys.readouterr().out.splitlines()[-1].startswith("done: iter-000003")


def test_record_records_each_checkpoint_outside_the_time_budget(tmp_path, wp_excerpt_file, monkeypatch):
    clock, recorded = [0.0], []  # each recording takes an hour on training's clock, far more than the budget
    monkeypatch.setattr(train_module, "time", types.SimpleNamespace(time=lambda: time.time() + clock[0]))

    def hour_long_record(run, checkpoints, max_chars, progress):
        clock[0] += 3600
        recorded.append((checkpoints, max_chars))
    monkeypatch.setattr(train_module, "record_run", hour_long_record)
    train(wp_excerpt_file, tmp_path / "rec", max_iters=6, max_minutes=10, checkpoint_every=2, record=True,
          record_chars=500, progress=False, **TINY)
    assert recorded == [("iter-000002", 500), ("iter-000004", 500), ("iter-000006", 500)]  # counted: stops at 3
    assert list(rundir.checkpoints(tmp_path / "rec")) == ["iter-000002", "iter-000004", "iter-000006"]
