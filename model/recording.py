"""The recording format: what one checkpoint did at every position of a text.

A recording is a directory of plain .npy files (README, "Run directory") so it can be made on a GPU box and
browsed anywhere. State arrays are cell-major, [layers, cells, n_chars], so one cell's whole series is a single
contiguous read from a memory map. This module never imports torch: the dashboard reads through it.
"""
import json
import os
import shutil
from pathlib import Path

import numpy as np

from model import rundir

# What a recording of each cell type can hold, (states, gates), in nn.LSTM's and nn.GRU's gate order. An LSTM
# has a cell state c and gates i, f, o; a GRU only h, with its reset, update and candidate gates r, z, n
# (n = tanh(W_in x + b_in + r (W_hn h + b_hn))); a vanilla RNN only h.
CELL_KINDS = {"lstm": (("c", "h"), ("i", "f", "o")), "gru": (("h",), ("r", "z", "n")), "rnn": (("h",), ())}
STATE_KINDS = ("c", "h")  # the states of any cell type; every other kind is a gate
SIGMOID_GATES = ("i", "f", "o", "r", "z")  # the gates in [0, 1], that saturate at 0 and 1 (n is a tanh)
TOP_K = 5


def kinds_for(cell, gates):
    """The kinds a recording of this cell type holds, states first (with gates: then its gates)."""
    states, gate_kinds = CELL_KINDS[cell]
    return states + (gate_kinds if gates else ())


class RecordingError(rundir.RunError):
    """A recording that is missing, half-written or inconsistent, or a cell or kind it does not hold."""


class RecordingWriter:
    """Fills a recording block by block in a temporary directory, then renames it into place.

    A killed recording never leaves a directory that `Recording.open` accepts: the final name only appears
    once every array is written and fsynced.
    """

    def __init__(self, path, text, vocab, layers, cells, kinds, meta, dtype="float16"):
        self.path = Path(path)
        self.tmp = self.path.with_name("." + self.path.name + ".partial")
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)
        n = len(text)
        self.n_chars, self.kinds = n, tuple(kinds)
        (self.tmp / "text.txt").write_text(text, encoding="utf-8")
        open_mm = np.lib.format.open_memmap
        self.states = {k: open_mm(self.tmp / f"{k}.npy", "w+", dtype, (layers, cells, n)) for k in self.kinds}
        self.top5_ids = open_mm(self.tmp / "top5_ids.npy", "w+", np.int32, (n, TOP_K))
        self.top5_p = open_mm(self.tmp / "top5_p.npy", "w+", np.float16, (n, TOP_K))
        self.loss = open_mm(self.tmp / "loss.npy", "w+", np.float32, (n,))
        self.meta = dict(meta, n_chars=n, layers=layers, cells=cells, kinds=list(self.kinds), dtype=dtype,
                         vocab=list(vocab))

    @classmethod
    def join(cls, tmp, kinds):
        """The arrays another process's writer made in its temporary folder tmp, opened to write this process's
        own positions in place (a rank of a sharded recording, model/record.py); that writer finishes."""
        self = cls.__new__(cls)
        self.tmp, self.kinds = Path(tmp), tuple(kinds)
        self.states = {k: np.load(self.tmp / f"{k}.npy", mmap_mode="r+") for k in self.kinds}
        self.top5_ids, self.top5_p, self.loss = (np.load(self.tmp / f"{name}.npy", mmap_mode="r+")
                                                 for name in ("top5_ids", "top5_p", "loss"))
        return self

    def flush(self):
        for arr in [*self.states.values(), self.top5_ids, self.top5_p, self.loss]:
            arr.flush()

    def finish(self, gate_stats=None):
        self.flush()
        for name in os.listdir(self.tmp):
            with open(self.tmp / name, "rb+") as f:
                os.fsync(f.fileno())
        if gate_stats is not None:
            rundir.write_json(self.tmp / "gate_stats.json", gate_stats)
        rundir.write_json(self.tmp / "meta.json", self.meta)
        self.states = self.top5_ids = self.top5_p = self.loss = None
        if self.path.exists():
            shutil.rmtree(self.path)
        rundir.publish(self.tmp, self.path)


class NpyFile:
    """One .npy file read with pread, never through a memory map: if the file shrinks under a running server (a
    disk filling up, an interrupted copy, a re-record syncing in), a memory map would kill the process with
    SIGBUS on the first page past the new end; pread just comes back short, and that becomes a RecordingError."""

    def __init__(self, path, shape):
        self.path = path
        self.file = open(path, "rb", buffering=0)
        version = np.lib.format.read_magic(self.file)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        self.shape, fortran, self.dtype = read_header(self.file)
        self.offset = self.file.tell()
        if self.shape != shape or fortran:
            raise RecordingError(f"{path.name} has shape {self.shape}, expected {shape}")
        self.identity = self.stat()
        size = self.offset + int(np.prod(shape)) * self.dtype.itemsize
        if self.identity[1] != size:
            raise RecordingError(f"{path.name} holds {self.identity[1]:,} bytes, its shape needs {size:,} "
                                 "(truncated or still being copied)")

    def stat(self):
        st = os.fstat(self.file.fileno())
        return st.st_ino, st.st_size, st.st_mtime_ns

    def read(self, first, count):
        """Elements [first, first + count) of the flattened array."""
        out = np.empty(count, self.dtype)
        view, at = memoryview(out).cast("B"), self.offset + first * self.dtype.itemsize
        done = 0
        while done < len(view):
            got = os.preadv(self.file.fileno(), [view[done:]], at + done)
            if got == 0:
                raise RecordingError(f"{self.path} changed on disk since it was opened (now "
                                     f"{self.stat()[1]:,} bytes); record it again")
            done += got
        return out


class Recording:
    """Lazy reader: nothing but the text and meta.json is read until a slice is asked for."""

    def __init__(self, path, meta, text, files, gate_stats):
        self.path, self.meta, self.text, self.gate_stats = Path(path), meta, text, gate_stats
        self._files = files
        self.n_chars, self.layers, self.cells = meta["n_chars"], meta["layers"], meta["cells"]
        self.kinds = tuple(meta["kinds"])
        self.cell = meta.get("cell", "lstm")  # recordings made before GRU and RNN cells were are all LSTMs
        self.state_kinds = tuple(k for k in self.kinds if k in STATE_KINDS)
        self.vocab = meta["vocab"]
        self.iteration = meta.get("iteration")
        self.checkpoint = meta.get("checkpoint", self.path.name)
        if self.iteration is None:
            self.iteration = rundir.iteration_of(self.checkpoint)

    @classmethod
    def open(cls, path):
        path = Path(path)
        if not (path / "meta.json").is_file():
            partial = path.with_name("." + path.name + ".partial").exists()
            why = "was interrupted before it finished" if partial else "does not exist or has no meta.json"
            raise RecordingError(f"recording {path} {why}")
        try:
            meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
            text = (path / "text.txt").read_text(encoding="utf-8")
            n, shape = meta["n_chars"], (meta["layers"], meta["cells"], meta["n_chars"])
            expected = {**{k: shape for k in meta["kinds"]}, "top5_ids": (n, TOP_K), "top5_p": (n, TOP_K), "loss": (n,)}
            files = {name: NpyFile(path / f"{name}.npy", want) for name, want in expected.items()}
            stats_file = path / "gate_stats.json"
            gate_stats = json.loads(stats_file.read_text(encoding="utf-8")) if stats_file.exists() else None
        except RecordingError as e:
            raise RecordingError(f"recording {path}: {e}") from None
        except (OSError, ValueError, KeyError) as e:
            raise RecordingError(f"recording {path} is unreadable: {e}") from None
        if len(text) != n:
            raise RecordingError(f"recording {path}: text.txt has {len(text)} chars, meta.json says {n}")
        return cls(path, meta, text, files, gate_stats)

    def intact(self):
        """True while every file is the one opened, at its size (a cached reader is checked before reuse)."""
        try:
            return all(f.stat() == f.identity and os.stat(f.path).st_ino == f.identity[0] for f in self._files.values())
        except OSError:
            return False

    def array(self, kind):
        """The whole [layers, cells, n_chars] float16 memory map of one kind, for tools and tests that read it in
        bulk; a server reads through series/rows/top5/loss, which cannot fault if a file shrinks."""
        self._check_kind(kind)
        return np.load(self._files[kind].path, mmap_mode="r")

    def rows(self, kind, layer, first, stop):
        """Cells [first, stop) of one layer, [cells, n_chars] float16: one contiguous read."""
        self._check_kind(kind)
        n = self.n_chars
        return self._files[kind].read((layer * self.cells + first) * n, (stop - first) * n).reshape(-1, n)

    def series(self, layer, cell, kind="c", start=0, stop=None):
        """One cell's activations as float32 (a contiguous read)."""
        self._check_kind(kind)
        self.check_cell(layer, cell)
        start, stop, _ = slice(start, stop).indices(self.n_chars)
        base = (layer * self.cells + cell) * self.n_chars
        return self._files[kind].read(base + start, max(0, stop - start)).astype(np.float32)

    def states(self, kind, start, stop):
        """Every cell over positions [start, stop), [layers, cells, n] float32 (one read per cell)."""
        self._check_kind(kind)
        n, f = self.n_chars, self._files[kind]
        return np.stack([f.read(row * n + start, stop - start) for row in range(self.layers * self.cells)]
                        ).astype(np.float32).reshape(self.layers, self.cells, stop - start)

    def means(self, kind):
        """Every cell's mean over the whole recording, [layers, cells] float32 (a layer read at a time)."""
        return np.stack([self.rows(kind, layer, 0, self.cells).mean(-1, dtype=np.float32)
                         for layer in range(self.layers)])

    def state_at(self, kind, position):
        """Every cell's value at one position, [layers, cells] float32 (one small read per cell)."""
        self._check_kind(kind)
        n, f = self.n_chars, self._files[kind]
        return np.array([f.read(row * n + position, 1)[0] for row in range(self.layers * self.cells)],
                        np.float32).reshape(self.layers, self.cells)

    def window(self, start, stop):
        """The text of positions [start, stop)."""
        return self.text[start:stop]

    def top5_ids(self, start=0, stop=None):
        """(vocabulary ids [n, 5] int32, probabilities [n, 5]) of the five guesses for the next character."""
        start, stop, _ = slice(start, stop).indices(self.n_chars)
        count = max(0, stop - start)
        ids = self._files["top5_ids"].read(start * TOP_K, count * TOP_K).reshape(count, TOP_K)
        probs = self._files["top5_p"].read(start * TOP_K, count * TOP_K).reshape(count, TOP_K).astype(np.float32)
        return ids, probs

    def top5(self, start=0, stop=None):
        """(chars, probabilities) of the model's five guesses for the character after each position."""
        ids, probs = self.top5_ids(start, stop)
        vocab = self.vocab
        return [[vocab[i] for i in row] for row in ids], probs

    def loss(self, start=0, stop=None):
        """-log p(actual next char) in nats; the last position has no next char and holds NaN."""
        start, stop, _ = slice(start, stop).indices(self.n_chars)
        return self._files["loss"].read(start, max(0, stop - start)).astype(np.float32)

    def beside(self, name, start=0, stop=None):
        """Positions [start, stop) of NAME.npy, a per-position array written beside the recording after it was
        made (viz.ngram's ngram_loss), as float32; None when there is none. Opened afresh on each call (and read
        with pread), as it can appear or be rewritten while the recording stays open."""
        path = self.path / f"{name}.npy"
        if not path.is_file():
            return None
        start, stop, _ = slice(start, stop).indices(self.n_chars)
        try:
            f = NpyFile(path, (self.n_chars,))
        except (OSError, ValueError) as e:
            raise RecordingError(f"{path} is unreadable: {e}") from None
        with f.file:
            return f.read(start, max(0, stop - start)).astype(np.float32)

    def check_cell(self, layer, cell):
        if not (0 <= layer < self.layers and 0 <= cell < self.cells):
            raise RecordingError(f"cell {layer}:{cell} out of range: {self.layers} layers x {self.cells} cells")

    def check_window(self, start, stop):
        if not (0 <= start < self.n_chars and start < stop):
            raise RecordingError(f"window {start}:{stop} is empty or outside the {self.n_chars} recorded characters")

    def _check_kind(self, kind):
        if kind not in self.kinds:
            states, gates = CELL_KINDS[self.cell]
            why = ("; gates need: python -m model.record RUN --gates" if kind in gates else
                   "" if kind in states else f"; a recording of a {self.cell.upper()} has no {kind}")
            raise RecordingError(f"kind {kind!r} not recorded here (recorded: {', '.join(self.kinds)}){why}")
