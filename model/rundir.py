"""THE run directory, the contract that joins every stage: names, paths, "named or newest", atomic writes,
run.json, log.csv and samples. No torch here: model/ writes through it, viz/ and the app read through it.

    runs/NAME/run.json  log.csv  progress.json  checkpoints/iter-000500.safetensors  samples/iter-000500.txt
              recordings/iter-000500/ (model/recording.py)
"""
import contextlib
import csv
import fcntl
import io
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

from model.errors import CellscopeError

NAME = re.compile(r"iter-(\d{6,})")
LOG_FIELDS = ["iteration", "epoch", "train_loss", "val_loss", "bits_per_char", "lr", "chars_per_s", "elapsed_s"]


class RunError(CellscopeError):
    """A run directory, checkpoint or recording that is not there or not usable."""


def checkpoint_name(iteration):
    """500 -> iter-000500: a checkpoint, its sample and its recording share the name."""
    return f"iter-{iteration:06d}"


def iteration_of(name):
    """iter-000500 -> 500; None for a name that is not a checkpoint's."""
    match = NAME.fullmatch(name)
    return int(match[1]) if match else None


def publish(tmp, path):
    """Move a fully written, fsynced file or directory into place in one step, so a kill leaves the old one or
    the new one, never half of either; then fsync the folder so the rename itself survives a power cut."""
    os.replace(tmp, path)
    fd = os.open(Path(path).parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path, data, exclusive=False):
    """Write bytes (or text, as UTF-8) under a temporary name, fsync, then publish it as path. exclusive: only
    if path does not exist yet (a hard link fails where a rename would replace): FileExistsError otherwise."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            os.link(tmp, path)
        else:
            publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path, obj):
    atomic_write(path, json.dumps(obj, indent=1, ensure_ascii=False))


def _by_iteration(paths):
    """{name: path} of the paths named like checkpoints, oldest first."""
    named = [(iteration_of(p.name.split(".")[0]), p) for p in paths]
    return {p.name.split(".")[0]: p for i, p in sorted((i, p) for i, p in named if i is not None)}


def checkpoints(run):
    """{name: path} of the run's checkpoints, oldest first."""
    return _by_iteration(Path(run, "checkpoints").glob("iter-*.safetensors"))


def recordings(run):
    """{name: path} of the run's finished recordings (meta.json is written last), oldest first."""
    return _by_iteration(p for p in Path(run, "recordings").glob("iter-*") if (p / "meta.json").is_file())


def named_or_newest(found, name, what, run, hint=""):
    """The rule every command and page follows: the named one, or the newest when none is named.

    found: {name: path} oldest first (checkpoints() or recordings()); what: "checkpoint" or "recording"."""
    if not found:
        raise RunError(f"{run} has no {what}s yet{hint}")
    if name is None:
        return list(found)[-1]
    if name not in found:
        raise RunError(f"{run} has no {what} {name} (have {', '.join(found)}){hint}")
    return name


def record_hint(run, name=None):
    """The command that makes a missing recording, for error messages and notices."""
    which = f" --checkpoint {name}" if name else ""
    return f"; record it with: python -m model.record {run}{which}"


def checkpoint_path(run, name=None):
    """The named checkpoint's file, or the newest one's."""
    found = checkpoints(run)
    hint = f" (train first: python -m model.train CORPUS --run {run})" if not found else ""
    return found[named_or_newest(found, name, "checkpoint", run, hint)]


def recording_path(run, name=None):
    """The named checkpoint's recording, or the newest recording."""
    found = recordings(run)
    return found[named_or_newest(found, name, "recording", run, record_hint(run, name))]


def read_run(run):
    """run.json: corpus, vocabulary, split, model and hyperparameters."""
    path = Path(run, "run.json")
    if not path.is_file():
        raise RunError(f"{run}: not a run directory (no run.json)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RunError(f"{path} is unreadable: {e}") from None


def write_run(run, config):
    """Create run.json; never over another one (two trainers started in the same instant)."""
    try:
        atomic_write(Path(run, "run.json"), json.dumps(config, indent=1, ensure_ascii=False), exclusive=True)
    except FileExistsError:
        raise RunError(f"{run} already holds a run; pass --resume to continue it or choose another --run") from None


def read_log(run):
    """log.csv's rows as dicts of strings (empty cells where a row has no val loss); [] before the first."""
    path = Path(run, "log.csv")
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def rewrite_log(run, upto):
    """Keep log.csv's rows up to iteration `upto` (a resumed run redoes the ones after its checkpoint)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, LOG_FIELDS)
    writer.writeheader()
    writer.writerows(r for r in read_log(run) if int(r["iteration"]) <= upto)
    atomic_write(Path(run, "log.csv"), buf.getvalue())


def append_log(run):
    """(file, csv writer) appending rows to log.csv; the caller flushes after each row and closes the file."""
    f = open(Path(run, "log.csv"), "a", encoding="utf-8", newline="")
    return f, csv.DictWriter(f, LOG_FIELDS)


def val_loss(run, iteration, meta=None):
    """The validation loss at a checkpoint: from its (or its recording's) metadata, else from log.csv."""
    if meta and meta.get("val_loss") is not None:
        return float(meta["val_loss"])
    for row in read_log(run):
        if row.get("iteration") == str(iteration) and row.get("val_loss"):
            return float(row["val_loss"])
    return None


def write_progress(run, **fields):
    """progress.json: what a watcher cannot read from log.csv, the training's budget and how it ended.
    state: "training" (with started, first_iteration, last_iteration or deadline: whichever are set), "done",
    or "failed" (with error, the one line the trainer printed)."""
    write_json(Path(run, "progress.json"), {**read_progress(run), **fields})


def read_progress(run):
    """progress.json as a dict; {} for a run without one (or a half-read one: it is written atomically)."""
    try:
        return json.loads(Path(run, "progress.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_sample(run, name, text):
    (Path(run) / "samples").mkdir(exist_ok=True)
    atomic_write(Path(run, "samples", f"{name}.txt"), text)


def samples(run):
    """{checkpoint name: sample text} of the samples written during training, oldest first."""
    found = _by_iteration(Path(run, "samples").glob("iter-*.txt"))
    return {name: path.read_text(encoding="utf-8") for name, path in found.items()}


def corpus_name(run):
    """The corpus file's name from run.json (a path, or {"path": ...} in older runs), or None."""
    try:
        corpus = read_run(run).get("corpus")
    except RunError:
        return None
    if isinstance(corpus, dict):
        corpus = corpus.get("path") or corpus.get("name")
    return Path(corpus).name if isinstance(corpus, str) else None


_HELD = {}  # lock file -> fd, of the locks this process holds
ROLES = {"train": "trained", "record": "recorded"}


@contextlib.contextmanager
def writer_lock(run, role):
    """One trainer and one recorder per run at a time (they write different files): an OS lock on
    run/.ROLE.lock, which the kernel releases if the process dies, so it never goes stale. A second writer
    is refused with one line naming the process that holds the run. A new run's folder is made here, and
    removed again if nothing but the lock was put in it."""
    run = Path(run)
    created = not run.exists()
    run.mkdir(parents=True, exist_ok=True)
    path = (run / f".{role}.lock").resolve()
    if path in _HELD:  # this process holds it already
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if not _try_lock(fd):
        holder = _holder(fd)
        os.close(fd)
        raise RunError(f"{run} is being {ROLES[role]} by {holder}; wait for it to finish or choose another --run")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"process {os.getpid()} ({' '.join(sys.argv)[:200]})".encode(), 0)
    _HELD[path] = fd
    try:
        yield
    finally:
        del _HELD[path]
        os.ftruncate(fd, 0)
        os.close(fd)
        if created and os.listdir(run) == [path.name]:
            shutil.rmtree(run)


def _try_lock(fd, patience=0.5):
    """flock, retried for a moment: is_writing() holds a lock for microseconds to look."""
    deadline = time.time() + patience
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.time() > deadline:
                return False
            time.sleep(0.02)


def _holder(fd):
    """What the holder wrote into the lock file (it writes just after locking: wait for it a moment)."""
    for _ in range(25):
        text = os.pread(fd, 300, 0).decode("utf-8", "replace").strip()
        if text:
            return text
        time.sleep(0.02)
    return "another process"


def is_writing(run, role):
    """Whether some process holds the run's `role` lock now (looked at without waiting)."""
    path = Path(run) / f".{role}.lock"
    if path.resolve() in _HELD:
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases the lock if it was taken


TRAINING_WINDOW_S = 60  # a log.csv that grew this recently means training goes on, even without a visible lock


def is_training(run):
    """Whether the run is being trained now: its trainer holds the lock, or (a trainer on another machine that
    shares the disk, whose lock this one cannot see) log.csv grew in the last minute and progress.json does not
    say training ended."""
    if is_writing(run, "train"):
        return True
    try:
        recent = time.time() - Path(run, "log.csv").stat().st_mtime < TRAINING_WINDOW_S
    except OSError:
        return False
    return recent and read_progress(run).get("state") not in ("done", "failed")


def partial_recordings(run):
    """{checkpoint name: folder} of recordings begun and not finished (hidden .iter-NNNNNN.partial folders):
    in progress while a recorder holds the run, interrupted otherwise."""
    found = {p.name[1:-len(".partial")]: p for p in Path(run, "recordings").glob(".iter-*.partial")}
    return {name: found[name] for name in sorted(found, key=iteration_of) if iteration_of(name) is not None}
