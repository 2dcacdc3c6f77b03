"""viz.ranking against slow, obviously-right references, on synthetic activations over real War and Peace text."""
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import real_text
from model.recording import Recording, RecordingWriter
from viz.concepts import concept_values, regex_mask
from viz import ranking
from viz.ranking import SORTED_VALUES, auroc, average_ranks, pearson, score_cells, score_many, spearman

WAR_AND_PEACE = real_text("war_and_peace.txt")
START = WAR_AND_PEACE.index('\n\n"', 5000) + 2  # a paragraph that opens a quotation: quotes in step
TEXT = WAR_AND_PEACE[START:START + 3000]
LAYERS, CELLS = 2, 8


def slow_ranks(values):
    """1-based ranks, ties averaged: sort, then walk each run of equal values."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def slow_auroc(values, labels):
    """Mann-Whitney U from the rank sum of the positives, over plain Python floats."""
    ranks = slow_ranks([float(v) for v in values])
    n_pos = sum(labels)
    n_neg = len(labels) - n_pos
    rank_sum = sum(r for r, is_pos in zip(ranks, labels) if is_pos)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def tied_float16(rng, shape):
    """Random float16 values on a coarse grid (many ties), with both +0 and -0 among them."""
    values = np.round(rng.standard_normal(shape) * 2) / 4
    values[..., ::17] = -0.0
    return values.astype(np.float16)


@pytest.fixture(scope="module")
def quotes():
    return concept_values("quotes", TEXT)


@pytest.fixture(scope="module")
def recording(tmp_path_factory, quotes):
    """c: cell 0:3 = quotes + noise, cell 1:2 = exactly the mask (a perfect detector); h: cell 1:5 = the mask
    negated (perfect, but low inside); everything else random noise."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("rec") / "iter-000100"
    w = RecordingWriter(path, TEXT, sorted(set(TEXT)), LAYERS, CELLS, ("c", "h"),
                        meta={"checkpoint": "iter-000100", "iteration": 100})
    for kind in ("c", "h"):
        w.states[kind][...] = tied_float16(rng, (LAYERS, CELLS, len(TEXT)))
    w.states["c"][0, 3] = (quotes + 0.5 * rng.standard_normal(len(TEXT))).astype(np.float16)
    w.states["c"][1, 2] = quotes.astype(np.float16)
    w.states["h"][1, 5] = -quotes.astype(np.float16)
    w.finish()
    return Recording.open(path)


def test_sorted_values_are_every_finite_float16_once_in_order():
    finite = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    finite = finite[np.isfinite(finite)].astype(np.float64)
    assert np.array_equal(SORTED_VALUES, np.unique(finite))  # +0 and -0 are one value


def test_auroc_equals_slow_mann_whitney_with_ties(quotes):
    rng = np.random.default_rng(1)
    values = tied_float16(rng, (4, len(TEXT)))
    values[1] += (0.5 * quotes).astype(np.float16)  # one informative row, still tied
    got = auroc(values, quotes)
    want = [slow_auroc(row, quotes.tolist()) for row in values]
    assert np.allclose(got, want, rtol=0, atol=1e-12)
    assert got[1] > 0.6
    assert quotes.mean() < 0.5  # the mask's other side, the larger one, is counted the other way round
    flipped = auroc(values, ~quotes)
    assert np.allclose(flipped, [slow_auroc(row, (~quotes).tolist()) for row in values], rtol=0, atol=1e-12)


def test_average_ranks_equal_slow_ranks():
    values = np.round(np.random.default_rng(2).standard_normal(500), 1)
    assert np.array_equal(average_ranks(values), slow_ranks(values.tolist()))


def test_planted_detectors_and_random_cells(recording, quotes):
    scores = score_cells(recording, quotes)
    assert len(scores) == 2 * LAYERS * CELLS
    assert list(scores.columns) == ["layer", "cell", "kind", "score", "sign", "metric", "mean_in", "mean_out"]
    assert (scores["metric"] == "auroc").all()
    assert scores["score"].is_monotonic_decreasing and (scores["score"] >= 0.5).all()
    by_cell = scores.set_index(["kind", "layer", "cell"])
    perfect = by_cell.loc[("c", 1, 2)]
    assert (perfect.score, perfect.sign, perfect.mean_in, perfect.mean_out) == (1.0, 1, 1.0, 0.0)
    flipped = by_cell.loc[("h", 1, 5)]
    assert (flipped.score, flipped.sign, flipped.mean_in, flipped.mean_out) == (1.0, -1, -1.0, 0.0)
    noisy = by_cell.loc[("c", 0, 3)]
    assert 0.8 < noisy.score < 1.0 and noisy.sign == 1
    assert set(scores.head(3)[["kind", "layer", "cell"]].itertuples(index=False)) == {
        ("c", 1, 2), ("h", 1, 5), ("c", 0, 3)}
    random_cells = scores.iloc[3:]
    assert (random_cells["score"] < 0.56).all()


def test_score_matches_direct_auroc_and_mean(recording, quotes):
    scores = score_cells(recording, quotes, kinds=("h",)).set_index(["layer", "cell"])
    values = recording.array("h")[0]
    raw = auroc(values, quotes)
    for cell in range(CELLS):
        row = scores.loc[(0, cell)]
        assert row.score == max(raw[cell], 1 - raw[cell])
        assert row.sign == (1 if raw[cell] >= 0.5 else -1)
        series = recording.series(0, cell, "h").astype(np.float64)
        assert np.isclose(row.mean_in, series[quotes].mean()) and np.isclose(row.mean_out, series[~quotes].mean())


def test_chunking_gives_identical_results(recording, quotes):
    key = ["kind", "layer", "cell"]
    whole = score_cells(recording, quotes, chunk=64).sort_values(key).reset_index(drop=True)
    for chunk in (1, 3):
        chunked = score_cells(recording, quotes, chunk=chunk).sort_values(key).reset_index(drop=True)
        assert chunked.equals(whole)


def test_scoring_many_targets_at_once_equals_scoring_each(recording, quotes):
    """The atlas scores every concept in one pass over the cells; each result must be score_cells' own."""
    depth = concept_values("bracket-depth", recording.text).astype(float)
    depth[::7] = np.nan  # a continuous target with unused positions
    masks = [quotes, ~quotes] + [regex_mask(r, recording.text) for r in ("[aeiou]", " ", "[A-Z]", "[.,;]", "\n")]
    targets, metrics = [*masks, depth, depth], [None] * len(masks) + ["spearman", "pearson"]
    together = score_many(recording, targets, metrics=metrics)
    for got, target, metric in zip(together, targets, metrics):
        pd.testing.assert_frame_equal(got, score_cells(recording, target, metric=metric))


FORKED_WORKERS = """
import sys
from viz import ranking
from viz.concepts import concept_values
from model.recording import Recording
import threading
rec = Recording.open(sys.argv[1])
quotes = concept_values("quotes", rec.text)
targets = [quotes, concept_values("line-position", rec.text)]
threaded = [ranking.score_cells(rec, t) for t in targets]
ranking.PROCESS_WORK, ranking.WORKERS = {"fork": 0, "spawn": 0}, 2
assert threading.active_count() == 1
pool, _ = ranking._pool(rec, ("c", "h"), [ranking.prepare(rec, quotes)], 64)
with pool:
    assert pool._mp_context.get_start_method() == "fork"
print(all(ranking.score_cells(rec, t).equals(want) for t, want in zip(targets, threaded))
      and all(got.equals(want) for got, want in zip(ranking.score_many(rec, targets), threaded)))
"""


def test_worker_processes_forked_from_a_single_threaded_caller_give_the_same_scores(recording):
    """Big recordings are scored in worker processes, forked from a single-threaded caller such as the CLI (a
    fresh interpreter here: pytest's own process may have threads)."""
    done = subprocess.run([sys.executable, "-c", FORKED_WORKERS, str(recording.path)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_worker_processes_spawned_from_a_threaded_caller_give_the_same_scores(monkeypatch, recording, quotes):
    """From a threaded caller such as the dashboard's server, workers are spawned: forking could deadlock."""
    target = concept_values("line-position", TEXT)
    threaded = [score_cells(recording, quotes), score_cells(recording, target)]
    monkeypatch.setattr(ranking, "PROCESS_WORK", {"fork": 0, "spawn": 0})  # as for a big recording
    monkeypatch.setattr(ranking, "WORKERS", 2)
    monkeypatch.setattr(ranking.threading, "active_count", lambda: 2)  # a server thread besides this one
    pool, _ = ranking._pool(recording, ("c", "h"), [ranking.prepare(recording, quotes)], 64)
    with pool:
        assert isinstance(pool, ProcessPoolExecutor) and pool._mp_context.get_start_method() == "spawn"
    in_processes = [score_cells(recording, quotes), score_cells(recording, target)]
    for t, p in zip(threaded, in_processes):
        assert t.equals(p)


def test_pearson_and_spearman_match_references():
    rng = np.random.default_rng(3)
    target = concept_values("line-position", TEXT).astype(np.float64)
    target[::11] = np.nan  # unknown positions are left out
    used = ~np.isnan(target)
    values = tied_float16(rng, (5, len(TEXT)))
    values[2, used] += (target[used] / 40).astype(np.float16)
    rank_target = slow_ranks(target[used].tolist())
    for row, p, s in zip(values, pearson(values, target), spearman(values, target)):
        x = row[used].astype(np.float64)
        assert np.isclose(p, np.corrcoef(x, target[used])[0, 1], rtol=0, atol=1e-12)
        assert np.isclose(s, np.corrcoef(slow_ranks(x.tolist()), rank_target)[0, 1], rtol=0, atol=1e-12)


def test_continuous_concept_finds_planted_cell(tmp_path):
    target = concept_values("line-position", TEXT)
    rng = np.random.default_rng(4)
    w = RecordingWriter(tmp_path / "iter-000100", TEXT, sorted(set(TEXT)), 1, 4, ("c",), meta={"iteration": 100})
    w.states["c"][...] = tied_float16(rng, (1, 4, len(TEXT)))
    w.states["c"][0, 1] = (-target / 40 + 0.1 * rng.standard_normal(len(TEXT))).astype(np.float16)
    w.finish()
    rec = Recording.open(tmp_path / "iter-000100")
    for metric in ("spearman", "pearson"):
        scores = score_cells(rec, target, kinds=("c",), metric=metric)
        best = scores.iloc[0]
        assert (best.cell, best.sign, best.metric) == (1, -1, metric) and best.score > 0.9
        assert scores["mean_in"].isna().all()
        assert (scores["score"].iloc[1:] < 0.1).all()


def test_concept_true_everywhere_or_nowhere_raises(recording):
    for mask, where in ((np.ones(len(TEXT), bool), "everywhere"), (np.zeros(len(TEXT), bool), "nowhere")):
        with pytest.raises(ValueError, match=where):
            score_cells(recording, mask)
    with pytest.raises(ValueError, match="constant"):
        score_cells(recording, np.full(len(TEXT), 3.0))
    with pytest.raises(ValueError, match="positions"):
        score_cells(recording, np.zeros(10, bool))
