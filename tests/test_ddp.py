"""Data-parallel training (model/distributed.py) on CPU with gloo, 2 processes, on the War and Peace excerpt:
the same losses and checkpoints as one process with the same global batch, rank 0 alone writes, resume under 2
ranks is exact, and the real torchrun command line trains and records as model.record does."""
import csv
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import model.train as train_module
from conftest import ROOT, free_port, real_text
from model import rundir
from model.checkpoint import load_checkpoint
from model.record import record_run
from model.train import TrainError, train

TINY = dict(layers=2, hidden=32, batch_size=16, seq_length=50, checkpoint_every=30, progress=False)
WRITES = {"os.mkdir", "os.rename", "os.replace", "os.link", "os.symlink", "os.remove", "os.truncate", "shutil.rmtree"}


def writes_of(event, args):
    """The path an audit event writes to, or None: reading, or a cache of Python's or torch's own (every process
    that imports torch makes /tmp/torchinductor_USER)."""
    if event == "open":
        path, mode, flags = args
        writing = any(m in mode for m in "wax+") if mode else flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        path = str(path) if writing and not isinstance(path, int) else ""
    else:
        path = str(args[0]) if event in WRITES else ""
    return None if not path or "__pycache__" in path or "/torchinductor_" in path else path


def one_rank(rank, port, corpus, runs, rank1_writes):
    """One rank of 2 as torchrun starts it (its environment), a log row every iteration: "straight" trains 50
    iterations, "resumed" 30, then 20 more with --resume. Rank 1 reports every path it opened for writing."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    train_module.LOG_EVERY = 1
    seen = []
    if rank == 1:
        sys.addaudithook(lambda event, args: seen.append(writes_of(event, args)))
    dist.init_process_group("gloo")
    train(corpus, runs / "straight", max_iters=50, **TINY)
    train(corpus, runs / "resumed", max_iters=30, **TINY)
    train(corpus, runs / "resumed", max_iters=20, resume=True, progress=False)
    dist.destroy_process_group()
    if rank == 1:
        rank1_writes.put([path for path in seen if path])


@pytest.fixture(scope="module")
def runs(tmp_path_factory, wp_excerpt_file):
    """The 2-rank runs, and "plain": the same 50 iterations in this process; plus the paths rank 1 wrote."""
    runs = tmp_path_factory.mktemp("ddp")
    rank1_writes = mp.get_context("spawn").SimpleQueue()
    mp.spawn(one_rank, (free_port(), wp_excerpt_file, runs, rank1_writes), nprocs=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a rank: on a busy 2-core machine 2 threads made it 4x slower
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_module, "LOG_EVERY", 1)
        train(wp_excerpt_file, runs / "plain", max_iters=50, **TINY)
    torch.set_num_threads(threads)
    return runs, rank1_writes.get()


def losses(run):
    return [float(r["train_loss"]) for r in csv.DictReader((run / "log.csv").open())]


def test_two_ranks_train_as_one_process_with_the_same_global_batch(runs):
    runs, _ = runs
    plain, ddp = losses(runs / "plain"), losses(runs / "straight")
    assert len(plain) == len(ddp) == 50
    np.testing.assert_allclose(ddp, plain, atol=1e-4, rtol=0)
    for name in ["iter-000030", "iter-000050"]:
        a, meta_a = load_checkpoint(runs / "plain" / "checkpoints" / f"{name}.safetensors")
        b, meta_b = load_checkpoint(runs / "straight" / "checkpoints" / f"{name}.safetensors")
        assert {k: (v.shape, v.dtype) for k, v in a.items()} == {k: (v.shape, v.dtype) for k, v in b.items()}
        assert a["state.h"].shape == (2, 16, 32)  # the global carried state, every rank's streams
        assert meta_a.keys() == meta_b.keys() and meta_a["val_loss"] == pytest.approx(meta_b["val_loss"], abs=1e-4)
        for k in a:
            torch.testing.assert_close(a[k], b[k], atol=1e-4, rtol=1e-3)


def test_only_rank_0_writes(runs):
    runs, rank1_writes = runs
    assert rank1_writes == []
    assert sorted(p.name for p in (runs / "straight").rglob("*")) == sorted(p.name for p in (runs / "plain").rglob("*"))


def test_resume_under_two_ranks_continues_exactly(runs):
    runs, _ = runs
    assert losses(runs / "resumed") == losses(runs / "straight")
    a, _ = load_checkpoint(runs / "straight" / "checkpoints" / "iter-000050.safetensors")
    b, _ = load_checkpoint(runs / "resumed" / "checkpoints" / "iter-000050.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=0, rtol=0)


def test_torchrun_command_line_trains_and_records_as_model_record_does(tmp_path):
    """--record's recordings are made by both ranks, each its share of the streams: 10 streams of 1,000 chars,
    5 a rank (4 or more rows a matmul, one thread, as model.record's here: MKL's kernels round otherwise,
    tests/test_record_sharded.py)."""
    corpus, run = tmp_path / "war_and_peace_100k.txt", tmp_path / "cli" / "wp"
    corpus.write_text(real_text("war_and_peace.txt")[:100_000], encoding="utf-8")  # a 10,000-char validation split
    cmd = ["torchrun", "--nproc-per-node", "2", "--master-port", str(free_port()), "-m", "model.train", "--",
           str(corpus), "--run", str(run), "--layers", "1", "--hidden", "32", "--batch-size", "16",
           "--seq-length", "50", "--checkpoint-every", "20", "--max-iters", "100000", "--max-minutes", "0.02",
           "--record", "--record-chars", "10000"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("done: iter-") == 1  # rank 0 alone reports; both ranks stopped at its iteration
    names = list(rundir.checkpoints(run))
    assert len(names) >= 2 and list(rundir.recordings(run)) == names
    again = tmp_path / "again" / "wp"  # the same run's checkpoints, recorded by model.record
    shutil.copytree(run, again, ignore=shutil.ignore_patterns("recordings", ".*.lock"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a rank (torchrun sets OMP_NUM_THREADS=1): the same matmul kernels
    try:
        record_run(again, all_checkpoints=True, max_chars=10_000, progress=False)
    finally:
        torch.set_num_threads(threads)
    for name in names:
        files = sorted(p.name for p in (run / "recordings" / name).iterdir())
        assert files == sorted(p.name for p in (again / "recordings" / name).iterdir())
        for f in files:
            assert (run / "recordings" / name / f).read_bytes() == (again / "recordings" / name / f).read_bytes(), f


def test_a_batch_that_does_not_split_over_the_ranks_is_refused(tmp_path, wp_excerpt_file, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(TrainError, match="--batch-size 15 does not split over 2 processes"):
        train(wp_excerpt_file, tmp_path / "odd", max_iters=5, **dict(TINY, batch_size=15))
    assert not (tmp_path / "odd").exists()
