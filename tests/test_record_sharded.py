"""Recording under torchrun (model/record.py, model/distributed.py) on CPU with gloo, 2 processes, on a tiny
model trained on the War and Peace excerpt: each rank records its share of the streams into the same files,
and the recording is byte for byte the one a single process makes (an odd stream count, a rank with no stream,
--follow, the real torchrun command line); rank 1 writes only into the arrays, rank 0 alone makes, finishes
and publishes. Byte for byte needs each rank's streams to be 4 or more, or all of them: MKL multiplies fewer
rows than 4 by another kernel, which rounds otherwise, so 3 + 2 streams only match one process's 5 to within
two float16 steps."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from conftest import ROOT, free_port, real_text
from model import rundir
from model.record import follow_run, record_run
from model.recording import Recording
from model.train import train
from test_ddp import writes_of

OPTIONS = dict(gates=True, warmup=500, progress=False)  # with a text file and a stream count each
CASES = {"odd": dict(all_checkpoints=True, streams=9), "one": dict(streams=1), "few": dict(streams=5)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, wp_excerpt_file):
    """A 2x32 LSTM with checkpoints at 50 and 100 iterations, and two texts from later in the novel: 19,999
    characters (in 9 streams 2,223 each, the last one short) and 3,000 (for one stream)."""
    root = tmp_path_factory.mktemp("sharded")
    run = root / "trained" / "wp"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a rank (torchrun sets OMP_NUM_THREADS=1): the same matmul kernels
    train(wp_excerpt_file, run, max_iters=100, layers=2, hidden=32, batch_size=16, seq_length=50,
          checkpoint_every=50, progress=False)
    long, short = root / "long.txt", root / "short.txt"
    long.write_text(real_text("war_and_peace.txt")[100_000:119_999], encoding="utf-8")
    short.write_text(real_text("war_and_peace.txt")[200_000:203_000], encoding="utf-8")
    yield root, run, long, short
    torch.set_num_threads(threads)


def copy_run(run, where):
    """The trained run without recordings, as where/wp (the same name: meta.json holds it)."""
    copy = where / run.name
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("recordings", ".*.lock"))
    return copy


def assert_same_recordings(sharded, plain):
    """Every file of every recording the same bytes: arrays, text, meta.json, gate_stats.json."""
    names = list(rundir.recordings(plain))
    assert list(rundir.recordings(sharded)) == names and names
    for name in names:
        a, b = sharded / "recordings" / name, plain / "recordings" / name
        files = sorted(p.name for p in b.iterdir())
        assert sorted(p.name for p in a.iterdir()) == files and "gate_stats.json" in files
        for f in files:
            assert (a / f).read_bytes() == (b / f).read_bytes(), f"{name}/{f}"
        assert Recording.open(a).intact()
    assert not rundir.partial_recordings(sharded)


def one_rank(rank, port, root, long, short, rank1_writes):
    """One rank of 2, as torchrun starts it: the recordings of test_two_ranks_record_as_one_process, rank 1
    reporting every path it opened for writing."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    seen = []
    if rank == 1:
        sys.addaudithook(lambda event, args: seen.append(writes_of(event, args)))
    dist.init_process_group("gloo")
    for case, options in CASES.items():
        record_run(root / case / "wp", text_file=short if case == "one" else long, **options, **OPTIONS)
    follow_run(root / "follow" / "wp", poll=0.1, text_file=long, streams=8, **OPTIONS)  # a finished run: once
    dist.destroy_process_group()
    if rank == 1:
        rank1_writes.put([path for path in seen if path])


def test_two_ranks_record_as_one_process(trained):
    root, run, long, short = trained
    for case in [*CASES, "follow"]:
        copy_run(run, root / case)
        copy_run(run, root / "plain" / case)
    left = root / "odd" / "wp" / "recordings" / ".iter-000050.partial"  # an interrupted recorder's: rank 0 removes it
    left.mkdir(parents=True)
    (left / "c.npy").write_bytes(b"half")
    rank1_writes = mp.get_context("spawn").SimpleQueue()
    mp.spawn(one_rank, (free_port(), root, long, short, rank1_writes), nprocs=2)
    writes = rank1_writes.get()
    for case, options in CASES.items():
        record_run(root / "plain" / case / "wp", text_file=short if case == "one" else long, **options, **OPTIONS)
    record_run(root / "plain" / "follow" / "wp", all_checkpoints=True, text_file=long, streams=8, **OPTIONS)

    for case in ("odd", "one", "follow"):  # 5 + 4 streams, 1 + 0, 4 + 4
        assert_same_recordings(root / case / "wp", root / "plain" / case / "wp")
    assert Recording.open(root / "odd" / "wp" / "recordings" / "iter-000100").meta["streams"] == 9
    few, plain = (Recording.open(r / "few" / "wp" / "recordings" / "iter-000100") for r in (root, root / "plain"))
    assert few.meta == plain.meta and few.gate_stats == plain.gate_stats  # no gate moved across 0.1 or 0.9
    for kind in few.kinds:  # 3 + 2 streams: rounded otherwise in a few places (see the module's docstring)
        np.testing.assert_allclose(few.array(kind), plain.array(kind), rtol=2 ** -9, atol=1e-7)
    np.testing.assert_allclose(few.loss(), plain.loss(), rtol=1e-6)
    np.testing.assert_array_equal(few.top5_ids()[0], plain.top5_ids()[0])

    # rank 1 wrote into the arrays rank 0 made, and nothing else: no folder, text, meta.json, rename or removal
    assert all(Path(p).parent.name.endswith(".partial") for p in writes)
    assert {Path(p).name for p in writes} == {f"{k}.npy" for k in [*few.kinds, "top5_ids", "top5_p", "loss"]}


def test_torchrun_command_line_records_as_model_record_does(trained):
    root, run, long, _ = trained
    sharded, plain = copy_run(run, root / "cli"), copy_run(run, root / "plain" / "cli")
    flags = ["--all-checkpoints", "--gates", "--text", str(long), "--streams", "11", "--warmup", "500"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(free_port()),
           "-m", "model.record", "--", str(sharded), *flags]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr[-2000:]
    paths = [str(sharded / "recordings" / name) for name in rundir.checkpoints(sharded)]
    lines = out.stdout.splitlines()  # rank 0 alone says what it recorded, and where
    assert lines[-2:] == paths and len(lines) == 4 and lines[0].startswith("iter-000050: 19,999 chars recorded")
    subprocess.run([sys.executable, "-m", "model.record", str(plain), *flags], cwd=ROOT, check=True,
                   capture_output=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert_same_recordings(sharded, plain)
