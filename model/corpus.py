"""Text in: read and validate a corpus, map characters to ids, split it, and stream training batches.

The unit is the Unicode character, not the byte: a byte model would spend capacity spelling UTF-8 sequences,
and the dashboard would show the user half-characters (char-rnn's most-asked question).
"""
import random
from pathlib import Path

import numpy as np

from model.errors import CellscopeError


class CorpusError(CellscopeError):
    """Bad input text; the message is one line meant for the user."""


def read_text(path):
    """The file's text, or a CorpusError saying why it is not usable text."""
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"{path}: no such file")
    if not path.is_file():
        raise CorpusError(f"{path}: not a regular file")
    data = path.read_bytes()
    if not data:
        raise CorpusError(f"{path}: file is empty")
    if b"\x00" in data:
        raise CorpusError(f"{path}: looks like a binary file (contains NUL bytes), not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path}: not valid UTF-8 (bad byte 0x{data[e.start]:02x} at offset {e.start})") from None
    text = text.removeprefix("\ufeff")
    controls = sum(1 for ch in text[:100_000] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > 0.01 * min(len(text), 100_000):
        raise CorpusError(f"{path}: looks like a binary file ({controls} control characters), not text")
    if not text.strip():
        raise CorpusError(f"{path}: file holds only whitespace")
    return text


class Vocab:
    """The run's characters, sorted; a character's id is its index."""

    def __init__(self, chars):
        self.chars = list(chars)
        self.index = {ch: i for i, ch in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text):
        return cls(sorted(set(text)))

    def __len__(self):
        return len(self.chars)

    def __eq__(self, other):
        return isinstance(other, Vocab) and self.chars == other.chars

    def encode(self, text, unknown=None):
        """ids of text; characters outside the vocabulary are an error unless mapped to `unknown`."""
        missing = sorted(set(text) - self.index.keys())
        if missing and unknown is None:
            shown = ", ".join(repr(ch) for ch in missing[:10]) + (" ..." if len(missing) > 10 else "")
            raise CorpusError(f"{len(missing)} characters are not in the model's vocabulary: {shown} "
                              "(map them with --unknown CHAR)")
        if missing and unknown not in self.index:
            raise CorpusError(f"--unknown {unknown!r} is itself not in the model's vocabulary")
        fallback = self.index.get(unknown, 0)
        lookup = np.full(max(map(ord, text), default=0) + 1, fallback, dtype=np.int64)
        for ch, i in self.index.items():
            if ord(ch) < len(lookup):
                lookup[ord(ch)] = i
        return lookup[np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)]

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids)


def split(text, val_frac, shuffle_lines=False, seed=0):
    """(train, val): the last val_frac of the text is validation, so val is text the model never saw.

    shuffle_lines first shuffles the lines, for one-item-per-line corpora (names) that are sorted.
    """
    if not 0 < val_frac < 1:
        raise CorpusError(f"--val-frac must be between 0 and 1, got {val_frac}")
    if shuffle_lines:
        lines = text.splitlines(keepends=True)
        random.Random(seed).shuffle(lines)
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    n_val = max(1, int(len(text) * val_frac))
    return text[:-n_val], text[-n_val:]


class BatchStream:
    """char-rnn's batches: the text cut into batch_size contiguous streams, read seq_length at a time.

    Batch k continues where batch k-1 stopped in every stream, so the hidden state is carried across
    minibatches (truncated BPTT); each new epoch starts the streams over and the state from zero.
    Batch k is a pure function of k, which is what makes --resume exact.
    """

    def __init__(self, ids, batch_size, seq_length):
        per_stream = (len(ids) - 1) // batch_size
        self.steps_per_epoch = per_stream // seq_length
        if self.steps_per_epoch < 1:
            need = batch_size * seq_length + 1
            raise CorpusError(f"training text too short: {len(ids)} characters, one batch needs {need} "
                              "(lower --batch-size or --seq-length)")
        used = batch_size * per_stream
        self.x = np.ascontiguousarray(ids[:used].reshape(batch_size, per_stream).T)
        self.y = np.ascontiguousarray(ids[1:used + 1].reshape(batch_size, per_stream).T)
        self.seq_length = seq_length

    def batch(self, k):
        """(x, y, starts_epoch) for batch k, as [seq_length, batch_size] arrays."""
        j = k % self.steps_per_epoch
        rows = slice(j * self.seq_length, (j + 1) * self.seq_length)
        return self.x[rows], self.y[rows], j == 0

    def epoch(self, k):
        return k / self.steps_per_epoch
