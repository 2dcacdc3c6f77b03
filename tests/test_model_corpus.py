"""Corpus reading, the character vocabulary, the split and the batch streams, on real text."""
import numpy as np
import pytest

from conftest import real_text
from model.corpus import BatchStream, CorpusError, Vocab, read_text, split


def test_vocab_round_trips_non_ascii_wikipedia_text():
    text = real_text("wiki.xml")  # all of the excerpt: ten articles, Albanian, Greek, Phoenician
    assert any(ord(ch) > 127 for ch in text), "excerpt should hold non-ASCII characters"
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text)
    assert ids.shape == (len(text),) and ids.max() < len(vocab)
    assert vocab.decode(ids) == text
    assert all(len(ch) == 1 for ch in vocab.chars)  # characters, not UTF-8 bytes


def test_vocab_rejects_unknown_characters_unless_mapped():
    vocab = Vocab.from_text(real_text("war_and_peace.txt")[:60_000])
    with pytest.raises(CorpusError, match="not in the model's vocabulary: '€'"):
        vocab.encode("a € b")
    ids = vocab.encode("a € b", unknown="?")
    assert vocab.decode(ids) == "a ? b"


def test_split_is_contiguous_with_the_requested_fraction():
    text = real_text("war_and_peace.txt")[:100_000]
    train, val = split(text, 0.1)
    assert len(val) == 10_000 and train + val == text
    names = real_text("names.txt")[:20_000]
    train_s, val_s = split(names, 0.2, shuffle_lines=True, seed=1)
    assert sorted((train_s + val_s).split()) == sorted(names.split())
    assert val_s != names[-len(val_s):]


def test_batch_stream_carries_each_stream_forward():
    text = real_text("war_and_peace.txt")[:20_000]
    ids = Vocab.from_text(text).encode(text)
    stream = BatchStream(ids, batch_size=4, seq_length=50)
    x0, y0, first = stream.batch(0)
    x1, _, later = stream.batch(1)
    per_stream = (len(ids) - 1) // 4
    assert first and not later and x0.shape == (50, 4)
    assert np.array_equal(x0[:, 1], ids[per_stream:per_stream + 50])  # stream 1 starts a quarter in
    assert np.array_equal(x1[:, 1], ids[per_stream + 50:per_stream + 100])  # and continues next batch
    assert np.array_equal(y0[:-1], x0[1:])
    assert stream.batch(stream.steps_per_epoch)[2]  # a new epoch starts over


@pytest.mark.parametrize("content, message", [
    (b"", "file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    ("Natasha said \u00ab oui \u00bb".encode("latin-1"), "not valid UTF-8"),
])
def test_read_text_refuses_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        read_text(path)


def test_read_text_refuses_missing_path(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        read_text(tmp_path / "nope.txt")
