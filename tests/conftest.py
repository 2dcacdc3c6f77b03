"""Shared fixtures: the real text the tests read (carried in tests/data/), one hostile string for the escaping
tests, and one tiny real run (trained for seconds, every checkpoint recorded)."""
import contextlib
import functools
import importlib
import io
import socket
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"  # excerpts of real corpora and C sources: tests/data/SOURCES.md
# War and Peace is the demo corpus the product ships (the novel's first ~1M characters): not copied twice.
ELSEWHERE = {"war_and_peace.txt": ROOT / "demo" / "war_and_peace_excerpt.txt"}

# Every escaping test shows this literally: tags that would run or load something, an entity that must not be
# decoded, both kinds of quote (attributes), and U+2028, which ends a line in older JavaScript string literals.
HOSTILE = '<script>alert(1)</script> <img src=x onerror=alert(1)> <b>bold</b> &amp; "double" \'single\' \u2028'


def real_path(name):
    """The file of one of the real texts the repository carries: tests/data/NAME (War and Peace: the demo's)."""
    path = ELSEWHERE.get(name, DATA / name)
    if not path.is_file():
        raise FileNotFoundError(f"no real text {name!r}: see tests/data/SOURCES.md for the ones carried")
    return path


@functools.cache
def real_text(name):
    """The whole text of real_path(name)."""
    return real_path(name).read_text(encoding="utf-8")


def run_main(module, *args):
    """(exit status, stderr) of `python -m module args` run in this process: the same main() and error
    reporting without a second torch import (tests/test_conventions.py runs each command line as a process)."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as exit:
        importlib.import_module(module).main([str(a) for a in args])
    return exit.value.code, stderr.getvalue()


@contextlib.contextmanager
def served(app, download_path=None):
    """The one Dash browser fixture's body: app served on a free port, headless Chromium (with the flags this
    machine needs beyond dash.testing's --no-sandbox --disable-gpu), as dash.testing's `dash_duo`."""
    from dash.testing.application_runners import ThreadedRunner
    from dash.testing.composite import DashComposite
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.add_argument("--disable-background-networking")
    options.add_argument("--window-size=1400,1000")
    with ThreadedRunner() as server, DashComposite(server=server, browser="Chrome", headless=True, options=[options],
                                                    download_path=str(download_path or "")) as duo:
        duo.start_server(app, navigate=False, port=free_port())
        yield duo


def free_port():
    """A port no one listens on: dash.testing's default (58050) is shared by every test run on the machine."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def wp_excerpt_file(tmp_path_factory):
    """The first 60k characters of War and Peace (dialogue in double quotes) as a file."""
    path = tmp_path_factory.mktemp("corpus") / "war_and_peace_60k.txt"
    path.write_text(real_text("war_and_peace.txt")[:60_000], encoding="utf-8")
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


def synthetic_recording(path, text, layers=2, cells=8, kinds=("c", "h"), planted=None, seed=0, meta=None):
    """A recording over real text whose cells are random noise except the planted ones: {(kind, layer, cell):
    values}. For the views and scorers, whose answer must then be the planted cells."""
    from model.recording import Recording, RecordingWriter

    rng = np.random.default_rng(seed)
    name = Path(path).name
    meta = {"checkpoint": name, "iteration": int(name.rsplit("-", 1)[1]) if name.startswith("iter-") else 0,
            **(meta or {})}
    w = RecordingWriter(path, text, sorted(set(text)), layers, cells, kinds, meta)
    for kind in kinds:
        w.states[kind][...] = rng.standard_normal((layers, cells, len(text))).astype(np.float16)
    for (kind, layer, cell), values in (planted or {}).items():
        w.states[kind][layer, cell] = np.asarray(values, np.float16)
    w.top5_ids[...] = rng.integers(0, len(w.meta["vocab"]), w.top5_ids.shape)
    w.top5_p[...] = np.sort(rng.dirichlet(np.ones(5), len(text)), axis=1)[:, ::-1].astype(np.float16)
    w.loss[...] = rng.exponential(1.5, len(text)).astype(np.float32)
    w.finish()
    return Recording.open(path)
