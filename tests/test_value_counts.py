"""model/value_counts: each cell's count of every float16 value, kept beside a big recording, and the ranking
that reads it instead of counting all positions itself."""
from collections import Counter

import numpy as np
import pytest

from conftest import real_text, synthetic_recording
from model import value_counts
from model.record import record, text_to_record
from model.checkpoint import load_model
from model.recording import Recording
from model.value_counts import SORTED_VALUES, Stored
from viz.concepts import concept_values
from viz.ranking import score_cells, score_many

TEXT = real_text("war_and_peace.txt")[20_000:24_000]


@pytest.fixture
def keep_all(monkeypatch):
    """Every recording counts as big: its counts are kept."""
    monkeypatch.setattr(value_counts, "STORE_MIN_CHARS", 0)


def tied_recording(path):
    """Cells on a coarse grid of values (many ties), -0 beside +0, and a NaN and an infinity among them."""
    rng = np.random.default_rng(5)
    values = {("c", layer, cell): np.round(rng.standard_normal(len(TEXT)) * 3) / 4
              for layer in range(2) for cell in range(8)}
    values["c", 0, 3][::13] = -0.0
    values["c", 1, 5][[7, 9]] = np.nan, np.inf
    return synthetic_recording(path, TEXT, planted=values)


def slow_counts(row):
    """{value: positions holding it} over the finite values, -0 counted as 0."""
    return Counter(float(v) + 0.0 for v in row.astype(np.float64) if np.isfinite(v))


def test_kept_counts_are_each_cells_own(tmp_path, keep_all):
    rec = tied_recording(tmp_path / "iter-000100")
    value_counts.count(rec)
    for kind in ("c", "h"):
        kept = Stored.open(rec, kind)
        for layer in range(2):
            for cell, (seen, counts) in enumerate(kept.taken(layer, 0, 8)):
                want = slow_counts(rec.array(kind)[layer, cell])
                assert dict(zip(SORTED_VALUES[seen].tolist(), counts.tolist())) == want
                assert np.all(np.diff(seen) > 0)
        assert kept.taken(1, 2, 5)[0][1].tolist() == kept.taken(1, 0, 8)[2][1].tolist()  # any chunk of cells


def test_small_recordings_keep_nothing(tmp_path):
    rec = tied_recording(tmp_path / "iter-000100")
    value_counts.count(rec)
    score_cells(rec, concept_values("quotes", TEXT))
    assert not (rec.path / value_counts.FOLDER).exists()


def test_a_ranking_keeps_the_counts_it_made_and_the_next_one_reads_them(tmp_path, keep_all):
    rec = tied_recording(tmp_path / "iter-000100")
    quotes, depth = concept_values("quotes", TEXT), concept_values("line-position", TEXT).astype(float)
    first = score_many(rec, [quotes, depth])
    assert Stored.open(rec, "c") is not None and Stored.open(rec, "h") is not None
    again = score_many(rec, [quotes, depth])
    for a, b in zip(first, again):
        assert a.equals(b)
    # what is kept is what the next ranking reads: double one cell's counts there, and only that cell moves
    kept = Stored.open(rec, "c")
    with value_counts.Keeper(rec.path) as keeper:
        keeper.add("c", [value_counts.pairs(seen, counts * (2 if (layer, cell) == (0, 4) else 1))
                         for layer in range(2) for cell, (seen, counts) in enumerate(kept.taken(layer, 0, 8))])
    tampered = score_cells(rec, quotes).set_index(["kind", "layer", "cell"]).sort_index()
    honest = first[0].set_index(["kind", "layer", "cell"]).sort_index()
    moved = ~np.isclose(tampered["mean_out"], honest["mean_out"])
    assert moved.tolist() == [key == ("c", 0, 4) for key in honest.index]


def test_half_kept_counts_are_counted_again(tmp_path, keep_all):
    rec = tied_recording(tmp_path / "iter-000100")
    quotes = concept_values("quotes", TEXT)
    honest = score_cells(rec, quotes)
    folder = rec.path / value_counts.FOLDER
    (folder / "c.rows.npy").unlink()  # killed between its two files
    with open(folder / "h.npy", "r+b") as f:  # cut short
        f.truncate(f.seek(0, 2) - 6)
    assert Stored.open(rec, "c") is None and Stored.open(rec, "h") is None
    assert score_cells(rec, quotes).equals(honest)
    assert Stored.open(rec, "c") is not None and Stored.open(rec, "h") is not None  # and kept afresh
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_a_failed_ranking_keeps_nothing(tmp_path, keep_all, monkeypatch):
    rec = tied_recording(tmp_path / "iter-000100")
    real_rows, calls = Recording.rows, []

    def failing_rows(self, kind, *where):
        calls.append(kind)
        if kind == "h":
            raise OSError("disk gone")
        return real_rows(self, kind, *where)

    monkeypatch.setattr(Recording, "rows", failing_rows)
    with pytest.raises(OSError):
        score_cells(rec, concept_values("quotes", TEXT))
    assert "h" in calls
    folder = rec.path / value_counts.FOLDER
    assert not folder.exists() or not list(folder.iterdir())


def test_the_recorder_keeps_the_counts_of_a_big_recording(tmp_path, tiny_run, keep_all):
    model, vocab, _ = load_model(tiny_run)
    text, next_char, _ = text_to_record(tiny_run, max_chars=1200)
    path = record(model, vocab, text, tmp_path / "iter-000150", next_char, gates=True, warmup=300, progress=False)
    rec = Recording.open(path)
    for kind in rec.kinds:
        kept = Stored.open(rec, kind)
        assert kept is not None, kind
        seen, counts = kept.taken(1, 31, 32)[0]
        assert dict(zip(SORTED_VALUES[seen].tolist(), counts.tolist())) == slow_counts(rec.array(kind)[1, 31])
