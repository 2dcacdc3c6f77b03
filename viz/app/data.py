"""The runs this server may show, and cached readers for them.

Only directories given to `set_runs` (the command line) are ever opened: a URL names a run by its short name,
never by a path. Readers are cached per (recording, meta.json mtime), so re-recording a checkpoint while the
app runs is picked up on the next request.
"""
import functools
from pathlib import Path

import pandas as pd

from model.recording import Recording, iteration_of, list_recordings

_RUNS = {}


def set_runs(paths):
    """Serve these run directories, named by their folder name (which must be unique)."""
    found = {}
    for path in map(Path, paths):
        if not path.is_dir():
            raise ValueError(f"run directory {path} does not exist")
        if path.name in found:
            raise ValueError(f"two runs are named {path.name!r}: {found[path.name]} and {path}")
        found[path.name] = path
    _RUNS.clear()
    _RUNS.update(found)


def runs():
    """{name: Path} of the served runs, in command-line order."""
    return dict(_RUNS)


def run_dir(name):
    if name not in _RUNS:
        raise KeyError(f"unknown run {name!r} (served: {', '.join(_RUNS) or 'none'})")
    return _RUNS[name]


def recordings(run_name):
    """{checkpoint: path} of the run's finished recordings, oldest first."""
    return list_recordings(run_dir(run_name))


def open_recording(run_name, checkpoint=None):
    """The run's recording of `checkpoint` (the newest when None); RecordingError or KeyError when absent."""
    found = recordings(run_name)
    if not found:
        raise KeyError(f"run {run_name!r} has no recordings")
    if checkpoint is None:
        checkpoint = list(found)[-1]
    if checkpoint not in found:
        raise KeyError(f"run {run_name!r} has no recording of checkpoint {checkpoint!r} "
                       f"(recorded: {', '.join(found)})")
    path = found[checkpoint]
    return _open(path, (path / "meta.json").stat().st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _open(path, mtime_ns):
    return Recording.open(path)


def read_log(run_name):
    """The training log (log.csv) as a DataFrame; empty when the run has none yet."""
    path = run_dir(run_name) / "log.csv"
    return pd.read_csv(path) if path.is_file() else pd.DataFrame()


def samples(run_name):
    """{checkpoint: sample text} from samples/, oldest first."""
    folder = run_dir(run_name) / "samples"
    files = sorted(folder.glob("iter-*.txt"), key=lambda p: iteration_of(p.stem)) if folder.is_dir() else []
    return {p.stem: p.read_text(encoding="utf-8") for p in files}
