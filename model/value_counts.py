"""How many positions of a recording hold each float16 value, per cell: counted once and kept beside a big one.

Ranking a binary concept (viz/ranking.py) needs, for every cell, the count of each of its values over all
positions and over the concept's smaller side. The first is the same whatever the concept. For a recording of
STORE_MIN_CHARS characters or more it is counted once, when the recording is made (model/record.py), or by the
first ranking of one made before, and kept in counts/; every ranking after it counts only the concept's smaller
side (a quarter of the positions for quotes in War and Peace) instead of every position as well. Smaller
recordings are counted as they are ranked: there the pass costs milliseconds.

counts/KIND.npy holds (value, count) pairs, cell after cell in the recording's order (layer by layer, then cell):
value is the index of a finite float16 value in increasing order (SORTED_VALUES), count how many positions hold
it; values a cell never takes are left out (a cell uses a small part of float16's range). counts/KIND.rows.npy,
int64 [layers * cells + 1]: where each cell's pairs begin. Each file is published whole and the rows file last;
a reader that finds either missing or of another size counts for itself.
"""
import io
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model import rundir
from model.recording import NpyFile, RecordingError

FOLDER = "counts"
STORE_MIN_CHARS = 1 << 19  # from here the stored pairs are under a tenth of the states they count
PAIR = np.dtype([("value", "<u2"), ("count", "<u4")])
N_PATTERNS = 1 << 16
WORKERS = len(os.sched_getaffinity(0))

# float16 bit patterns in increasing value: negatives are 0xFBFF (-65504) down to 0x8001, then 0 (with -0,
# 0x8000, folded in), then 0x0001 up to 0x7BFF (65504). Infinities and NaNs are left out.
_NEG_ZERO, _NEG_MAX, _POS_INF = 0x8000, 0xFBFF, 0x7C00


def by_value(hist):
    """[..., 65536] counts per bit pattern -> [..., n_values] per distinct finite value, increasing."""
    hist[..., 0] += hist[..., _NEG_ZERO]
    return np.concatenate([hist[..., _NEG_MAX:_NEG_ZERO:-1], hist[..., :_POS_INF]], axis=-1)


SORTED_VALUES = by_value(np.arange(N_PATTERNS, dtype=np.uint16).view(np.float16).astype(np.float64))


def histogram(patterns, weights=None):
    """Counts (or weight sums) per distinct finite float16 value, increasing, of uint16 bit patterns.

    np.add.at into int64 (or the weights' dtype) bins reads the uint16 patterns as they are: np.bincount wants
    them as intp, and the 8-byte copy plus its range-finding pass make it twice as slow (3 ms against 6 per
    million positions).
    """
    hist = np.zeros(N_PATTERNS, np.int64 if weights is None else weights.dtype)
    np.add.at(hist, patterns, 1 if weights is None else weights)
    return by_value(hist)


def of(patterns):
    """(the values a cell takes, as indices into SORTED_VALUES, increasing; how many of its positions hold
    each), int64 both, from its uint16 bit patterns."""
    total = histogram(patterns)
    seen = np.flatnonzero(total)
    return seen, total[seen]


def pairs(seen, counts):
    """A cell's values and counts (as `of` gives them) as the pairs kept on disk."""
    out = np.empty(len(seen), PAIR)
    out["value"], out["count"] = seen, counts
    return out


def worth_storing(recording):
    return recording.n_chars >= STORE_MIN_CHARS


class Writer:
    """One kind's pairs, cell after cell, appended to a temporary file as they come (the counts of a 6 GB
    recording come to ~300 MB: they never sit in memory at once), then published as counts/KIND.npy."""

    def __init__(self, recording_dir, kind):
        self.folder, self.kind = Path(recording_dir) / FOLDER, kind
        self.folder.mkdir(exist_ok=True)
        self.body_path = self.folder / f".{kind}.{os.getpid()}.pairs"
        self.body = open(self.body_path, "wb")
        self.starts = [0]

    def add(self, cell_pairs):
        self.body.write(cell_pairs.tobytes())
        self.starts.append(self.starts[-1] + len(cell_pairs))

    def finish(self):
        self.body.close()
        tmp = self.folder / f".{self.kind}.{os.getpid()}.npy"
        try:
            with open(tmp, "wb") as out, open(self.body_path, "rb") as body:
                header = {"descr": np.lib.format.dtype_to_descr(PAIR), "fortran_order": False,
                          "shape": (self.starts[-1],)}
                np.lib.format.write_array_header_1_0(out, header)
                shutil.copyfileobj(body, out, 1 << 23)
                out.flush()
                os.fsync(out.fileno())
            rundir.publish(tmp, self.folder / f"{self.kind}.npy")
        finally:
            tmp.unlink(missing_ok=True)
            os.unlink(self.body_path)
        starts = io.BytesIO()
        np.save(starts, np.asarray(self.starts, np.int64))
        rundir.atomic_write(self.folder / f"{self.kind}.rows.npy", starts.getvalue())

    def abandon(self):
        """Drop what was written and not published (after finish: nothing left to drop)."""
        self.body.close()
        self.body_path.unlink(missing_ok=True)


class Stored:
    """A recording's kept counts of one kind, read a chunk of cells at a time with pread, as the recording is."""

    def __init__(self, starts, pairs_file, cells):
        self.starts, self.pairs_file, self.cells = starts, pairs_file, cells

    @classmethod
    def open(cls, recording, kind):
        """The kept counts, or None if there are none (or only half of them, or of another shape)."""
        folder, rows = recording.path / FOLDER, recording.layers * recording.cells
        try:
            starts_file = NpyFile(folder / f"{kind}.rows.npy", (rows + 1,))
            with starts_file.file:
                starts = starts_file.read(0, rows + 1)
            return cls(starts, NpyFile(folder / f"{kind}.npy", (int(starts[-1]),)), recording.cells)
        except (OSError, ValueError, RecordingError):
            return None

    def taken(self, layer, first, stop):
        """`of` for each of cells [first, stop) of one layer: the values it takes and their counts."""
        row = layer * self.cells + first
        starts = self.starts[row:row + stop - first + 1]
        read = self.pairs_file.read(int(starts[0]), int(starts[-1] - starts[0]))
        cuts = (starts[1:-1] - starts[0]).tolist()
        return [(cell["value"].astype(np.int64), cell["count"].astype(np.int64)) for cell in np.split(read, cuts)]


class Keeper:
    """Keeps the pairs of one recording's kinds as they come, chunk after chunk in the recording's order, one
    Writer per kind. A recording that cannot be written to (read-only) keeps nothing and is counted again next
    time; if the work fails before the end, nothing is kept."""

    def __init__(self, recording_dir):
        self.recording_dir, self.writers, self.unwritable = recording_dir, {}, set()

    def add(self, kind, chunk_pairs):
        """chunk_pairs: a list of one chunk's cells' pairs, or None (nothing to keep)."""
        if chunk_pairs is None or kind in self.unwritable:
            return
        if kind not in self.writers:
            try:
                self.writers[kind] = Writer(self.recording_dir, kind)
            except OSError:
                self.unwritable.add(kind)
                return
        for cell_pairs in chunk_pairs:
            self.writers[kind].add(cell_pairs)

    def __enter__(self):
        return self

    def __exit__(self, failed, *_):
        for writer in self.writers.values():
            try:
                if not failed:
                    writer.finish()
            except OSError:
                pass
            finally:
                writer.abandon()


def count(recording, progress=False):
    """Count and keep the values of every kind of a big recording not kept yet (a small one: nothing to do), a
    chunk of cells per thread; what model/record.py does once a recording is made."""
    if not worth_storing(recording):
        return
    chunk = max(1, (1 << 24) // recording.n_chars)  # 32 MB of float16 read at a time
    jobs = [(kind, layer, first) for kind in recording.kinds if Stored.open(recording, kind) is None
            for layer in range(recording.layers) for first in range(0, recording.cells, chunk)]

    def counted(job):
        kind, layer, first = job
        return [pairs(*of(row.view(np.uint16)))
                for row in recording.rows(kind, layer, first, min(first + chunk, recording.cells))]

    with tqdm(total=len(jobs), unit="chunk", disable=not progress, dynamic_ncols=True, desc="count values") as bar, \
            ThreadPoolExecutor(WORKERS) as pool, Keeper(recording.path) as keeper:
        for (kind, _, _), part in zip(jobs, pool.map(counted, jobs)):
            keeper.add(kind, part)
            bar.update()
