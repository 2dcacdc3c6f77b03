"""The runs this server may show, and cached readers for them.

Only directories given to `set_runs` (the command line) are ever opened: a URL names a run by its short name,
never by a path. Readers are cached per (recording, meta.json mtime), so re-recording a checkpoint while the
app runs is picked up on the next request. Everything else is read through model/rundir.py.
"""
import functools
from pathlib import Path

import pandas as pd

from model import rundir
from model.recording import Recording

_RUNS = {}


def set_runs(paths):
    """Serve these run directories, named by their folder name (which must be unique)."""
    found = {}
    for path in map(Path, paths):
        if not path.is_dir():
            raise rundir.RunError(f"run directory {path} does not exist")
        if path.name in found:
            raise rundir.RunError(f"two runs are named {path.name!r}: {found[path.name]} and {path}")
        found[path.name] = path
    _RUNS.clear()
    _RUNS.update(found)


def runs():
    """{name: Path} of the served runs, in command-line order."""
    return dict(_RUNS)


def run_dir(name):
    if name not in _RUNS:
        raise rundir.RunError(f"unknown run {name!r} (served: {', '.join(_RUNS) or 'none'})")
    return _RUNS[name]


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
