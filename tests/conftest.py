"""Shared fixtures: the real corpora and one tiny real run (trained for seconds, every checkpoint recorded)."""
import socket
from pathlib import Path

import pytest

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def corpus_excerpt(name, start=0, length=60_000):
    """A slice of one of the shared real corpora."""
    return (CORPORA / name).read_text(encoding="utf-8")[start:start + length]


def free_port():
    """A port no one listens on: dash.testing's default (58050) is shared by every test run on the machine."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def wp_excerpt_file(tmp_path_factory):
    """The first 60k characters of War and Peace (dialogue in double quotes) as a file."""
    path = tmp_path_factory.mktemp("corpus") / "war_and_peace_60k.txt"
    path.write_text(corpus_excerpt("war_and_peace.txt"), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, wp_excerpt_file):
    """A real run: 2x32 LSTM, 150 iterations on the War and Peace excerpt, checkpoints at 50/100/150, each
    recorded with gates over the same first 3,000 characters of the validation split."""
    from model.record import record_run
    from model.train import train

    run = tmp_path_factory.mktemp("runs") / "tiny"
    train(wp_excerpt_file, run, max_iters=150, layers=2, hidden=32, batch_size=16, seq_length=50,
          checkpoint_every=50, progress=False)
    record_run(run, all_checkpoints=True, max_chars=3000, gates=True, warmup=500, progress=False)
    return run
