"""The runs this server may show, and cached readers for them.

Only the directories given to `set_runs` (the command line) and the run directories directly inside them are
ever opened: a URL names a run by its short name, never by a path. A named folder is looked at again on every
request (a directory listing and a few stats), so runs that appear in it later are served without a restart,
as TensorBoard serves a --logdir. Readers are cached per (recording, meta.json mtime), so re-recording a
checkpoint while the app runs is picked up on the next request. Everything else is read through
model/rundir.py.
"""
import functools
from pathlib import Path

import pandas as pd

from model import rundir
from model.recording import Recording

_SERVED = []


def set_runs(paths):
    """Serve these paths: each a run directory, or a folder of run directories (those in it now and later)."""
    served, names = [], {}
    for path in map(Path, paths):
        if not path.is_dir():
            raise rundir.RunError(f"run directory {path} does not exist")
        if members(path) == [path] and path.name in names:
            raise rundir.RunError(f"two runs are named {path.name!r}: {names[path.name]} and {path}")
        names[path.name] = path
        served.append(path)
    _SERVED[:] = served


def is_run(path):
    return any((path / part).exists() for part in ("run.json", "checkpoints", "recordings"))


def members(path):
    """The runs a served path stands for: itself if it is a run (or holds none: an empty folder is a run not
    started yet), else the runs directly inside it."""
    if is_run(path):
        return [path]
    return [child for child in _children(path) if is_run(child)] or [path]


def _children(path):
    try:
        return sorted(child for child in path.iterdir() if child.is_dir() and not child.name.startswith("."))
    except OSError:
        return []


def runs():
    """{name: Path} of the served runs as they are now, in command-line order (a folder's runs by name). A run
    of a folder named like an earlier one is called FOLDER/NAME."""
    found = {}
    for path in _SERVED:
        for run in members(path):
            found.setdefault(run.name if run.name not in found else f"{run.parent.name}/{run.name}", run)
    return found


def run_dir(name):
    served = runs()
    if name not in served:
        raise rundir.RunError(f"unknown run {name!r} (served: {', '.join(served) or 'none'})")
    return served[name]


def training_status(run):
    """None for the run directory `run` (one of runs()) when it is not training now (rundir.is_training); else
    {iteration, train_loss, val_loss, elapsed_s} of its newest log row (any of them None before the first)."""
    if not rundir.is_training(run):
        return None
    log = run / "log.csv"
    try:
        stat = log.stat()
    except OSError:
        stat = None
    row = _last_log_row(log, stat.st_mtime_ns, stat.st_size) if stat else {}
    number = lambda key: float(row[key]) if row.get(key) not in (None, "") else None  # noqa: E731
    return {key: number(key) for key in ("iteration", "train_loss", "val_loss", "elapsed_s")}


@functools.lru_cache(maxsize=64)
def _last_log_row(path, mtime_ns, size):
    """The newest row of a log.csv, read from its tail (the poll must not read a long log every few seconds)."""
    with open(path, "rb") as f:
        header = f.readline().decode("utf-8").strip().split(",")
        f.seek(max(f.tell(), size - 4096))
        lines = [line for line in f.read().decode("utf-8", "replace").splitlines()
                 if line.count(",") == len(header) - 1]
    return dict(zip(header, lines[-1].split(","))) if lines and lines[-1].split(",") != header else {}


def recordings(run_name):
    """{checkpoint: path} of the run's finished recordings, oldest first."""
    return rundir.recordings(run_dir(run_name))


def open_recording(run_name, checkpoint=None):
    """The run's recording of `checkpoint` (the newest when None); a RunError says why it cannot be opened.

    A cached reader is reused only while its files are the ones it opened, at their sizes: a recording that was
    re-recorded, truncated or replaced is opened again (and a broken one reported)."""
    path = rundir.recording_path(run_dir(run_name), checkpoint)
    key = (path, (path / "meta.json").stat().st_mtime_ns)
    rec = _open(*key)
    if not rec.intact():
        _open.cache_clear()
        rec = _open(*key)
    return rec


@functools.lru_cache(maxsize=32)
def _open(path, mtime_ns):
    return Recording.open(path)


def read_log(run_name):
    """The training log (log.csv) as a DataFrame of numbers; empty when the run has none yet."""
    return pd.DataFrame(rundir.read_log(run_dir(run_name))).apply(pd.to_numeric, errors="coerce")


def samples(run_name):
    """{checkpoint: sample text} from samples/, oldest first."""
    return rundir.samples(run_dir(run_name))


def val_loss(run_name, rec):
    """Validation loss at the recording's checkpoint (its meta, else log.csv)."""
    return rundir.val_loss(run_dir(run_name), rec.iteration, rec.meta)
