"""Score every cell of a recording against a concept: which cells detect it?

Binary concept: AUROC of each cell's activation as a detector of the mask (Mann-Whitney U, ties averaged),
folded to >= 0.5 with the sign kept (-1: the cell is low inside the concept). Continuous concept: Pearson
or Spearman correlation. Rank measures are invariant to any increasing map, so raw c scores as tanh(c).

Recordings are float16, which has only 65536 bit patterns: counting a cell's bit patterns (all
positions, then the smaller side of the mask) gives every rank, tie and sum exactly in O(n), where sorting
each cell costs O(n log n). On a million characters: ~3.5 ms of CPU per cell this way, 140-180 ms for argsort
alone (bench/rank_speed.py). The count of all positions is the same for every concept: a big recording keeps
it (model/value_counts.py), so that ranking a binary concept there reads only the concept's smaller side.
Cells are read from the memory map one at a time, chunks of cells in parallel (threads, or processes for big
recordings), so memory stays bounded whatever the recording's length.
"""
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial

import numpy as np
import pandas as pd

from model import value_counts
from model.errors import CellscopeError
from model.recording import Recording
from model.value_counts import SORTED_VALUES, histogram
from viz.concepts import ConceptError, concept_values, regex_mask, span_mask

class ScoreError(CellscopeError, ValueError):
    """A target that cannot be scored: constant on the text, of the wrong length, or an unknown metric."""


WORKERS = len(os.sched_getaffinity(0))
READ_ELEMENTS = 1 << 24  # a chunk of cells is read in one go (32 MB of float16): bounded memory per worker
# cells x positions from which worker processes beat threads: forked ones start in 0.03 s, so from ~1 s of
# scoring; spawned ones (~1 s to start, each) from ~10 s
PROCESS_WORK = {"fork": 300_000_000, "spawn": 3_000_000_000}


def _dot(a, b):
    """a . b without BLAS: on a busy 2-core box a threaded BLAS dot of 64k values costs 100x its work."""
    return np.add.reduce(a * b)


def _check_float16(values):
    values = np.asarray(values)
    if values.dtype != np.float16:
        raise TypeError(f"values must be float16 (a recording's dtype), got {values.dtype}")
    return np.atleast_2d(values)


def _prepare_mask(mask):
    """(whether inside is the smaller side, the positions of the smaller side): what _auroc needs of a mask."""
    inside_is_smaller = 2 * np.count_nonzero(mask) <= len(mask)
    return inside_is_smaller, np.flatnonzero(mask if inside_is_smaller else ~mask)


def _auroc(patterns, taken, prepared):
    """(unfolded AUROC, mean inside, mean outside) of one cell's float16 bit patterns, given the values it takes
    and their counts over all positions (value_counts.of: shared by every concept scored at once, and kept for
    big recordings): one histogram of the smaller side of the mask (the other side is the difference), then
    the arithmetic over the values the cell takes."""
    inside_is_smaller, smaller = prepared
    seen, total = taken
    if len(seen) == 0:  # no finite value at all
        return np.nan, np.nan, np.nan
    part = histogram(np.take(patterns, smaller))[seen]
    inside = part if inside_is_smaller else total - part
    out = total - inside
    out_up_to = np.cumsum(out)
    n_out, n_in = out_up_to[-1], inside.sum()
    twice_u = _dot(inside, 2 * out_up_to - out)  # each inside value beats the outside ones below, ties half
    values = SORTED_VALUES[seen]
    return twice_u / (2.0 * n_in * n_out), _dot(inside, values) / n_in, _dot(out, values) / n_out


def _auroc_and_means(values, mask):
    """Unfolded AUROC, mean inside, mean outside for each row of float16 values [cells, n]."""
    prepared = _prepare_mask(mask)
    return np.array([_auroc(row.view(np.uint16), value_counts.of(row.view(np.uint16)), prepared)
                     for row in values]).reshape(len(values), 3).T


def auroc(values, labels):
    """AUROC of each row of float16 values [cells, n] as a detector of bool labels [n], unfolded:
    P(value inside > value outside) + P(equal) / 2."""
    return _auroc_and_means(_check_float16(values), _binary_mask(labels, np.shape(values)[-1]))[0]


def average_ranks(x):
    """1-based ranks of x, ties given their average rank (as scipy.stats.rankdata)."""
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    ranks = np.empty(len(x), np.float64)
    ranks[order] = np.repeat((starts + 1 + ends) / 2.0, ends - starts)
    return ranks


def _prepare_target(target, metric):
    """(unused positions, target centered over the used ones and 0 elsewhere, its sum of squares)."""
    target = np.asarray(target, dtype=np.float64)
    used = ~np.isnan(target)
    y = np.zeros(len(target))
    y[used] = average_ranks(target[used]) if metric == "spearman" else target[used]
    y[used] -= y[used].mean()
    total = float(_dot(y, y))
    if total == 0.0:
        raise ScoreError("the concept is constant on this text: a correlation needs it to vary")
    return np.flatnonzero(~used), y, total


def _correlation(patterns, taken, prepared, metric):
    """Pearson or Spearman correlation of one cell's float16 bit patterns with a prepared target, given the
    values it takes and their counts over all positions (shared by every concept scored at once)."""
    unused, centered, total = prepared
    seen, counts = taken
    if len(unused):
        counts = counts - histogram(np.take(patterns, unused))[seen]
    if counts.sum() == 0:  # no finite value at all: correlates 0
        return 0.0
    sums = histogram(patterns, weights=centered)[seen]  # centered is 0 at unused positions
    if metric == "spearman":
        x = np.cumsum(counts) - (counts - 1) / 2.0  # average rank of each distinct value
    else:
        x = SORTED_VALUES[seen]
    d = x - _dot(counts, x) / counts.sum()
    denom = np.sqrt(_dot(counts, d * d) * total)
    return _dot(sums, d) / denom if denom > 0 else 0.0  # a constant cell correlates 0


def _correlations(values, unused, centered, total, metric):
    """Pearson or Spearman correlation of each row of float16 values with a prepared target."""
    return np.array([_correlation(row.view(np.uint16), value_counts.of(row.view(np.uint16)),
                                  (unused, centered, total), metric) for row in values])


def pearson(values, target):
    """Pearson correlation of each row of float16 values [cells, n] with target [n] (NaN positions ignored)."""
    return _correlations(_check_float16(values), *_prepare_target(target, "pearson"), "pearson")


def spearman(values, target):
    """Spearman correlation of each row of float16 values [cells, n] with target [n] (NaN positions ignored)."""
    return _correlations(_check_float16(values), *_prepare_target(target, "spearman"), "spearman")


def _binary_mask(mask, n):
    mask = np.asarray(mask, dtype=bool)
    if len(mask) != n:
        raise ScoreError(f"the mask has {len(mask)} positions, the values {n}")
    inside = int(mask.sum())
    if inside == 0 or inside == n:
        where = "nowhere" if inside == 0 else "everywhere"
        raise ScoreError(f"the concept is true {where} in this text ({n} characters): "
                         "AUROC needs positions both inside and outside it")
    return mask


def _score_chunk(recording, stored, targets, chunk, job):
    """(scores of one chunk of cells (kind, layer, first cell) against each prepared (metric, target), as rows
    of score_cells' DataFrame, one frame per target; the chunk's counts of all positions as value_counts pairs,
    to keep, where they are worth keeping and not kept yet, else None). Each cell is read once for all targets,
    and the count of all its positions read from what is kept, or made once."""
    kind, layer, start = job
    rows = recording.rows(kind, layer, start, min(start + chunk, recording.cells))
    kept = stored.get(kind)
    taken = kept.taken(layer, start, start + len(rows)) if kept else [value_counts.of(r.view(np.uint16)) for r in rows]
    raw = np.empty((len(targets), 3, len(rows)))
    for i, row in enumerate(rows):
        patterns = row.view(np.uint16)
        for k, (metric, target) in enumerate(targets):
            raw[k, :, i] = (_auroc(patterns, taken[i], target) if metric == "auroc" else
                            (_correlation(patterns, taken[i], target, metric), np.nan, np.nan))
    frames = []
    for (metric, _), (value, mean_in, mean_out) in zip(targets, raw):
        score = np.maximum(value, 1 - value) if metric == "auroc" else np.abs(value)
        sign = np.where(value >= (0.5 if metric == "auroc" else 0), 1, -1)
        frames.append(pd.DataFrame({"layer": layer, "cell": np.arange(start, start + len(rows)), "kind": kind,
                                    "score": score, "sign": sign, "metric": metric, "mean_in": mean_in,
                                    "mean_out": mean_out}))
    to_keep = None if kept or not value_counts.worth_storing(recording) else [value_counts.pairs(*t) for t in taken]
    return frames, to_keep


def _scorer(recording, targets, chunk):
    """_score_chunk for one recording, with what is kept of its counts."""
    stored = {kind: value_counts.Stored.open(recording, kind) for kind in recording.kinds}
    return partial(_score_chunk, recording, stored, targets, chunk)


_worker = {}


def _start_worker(path, targets, chunk):
    _worker["score"] = _scorer(Recording.open(path), targets, chunk)


def _score_in_worker(job):
    return _worker["score"](job)


def _pool(recording, kinds, targets, chunk):
    """Threads for small recordings; worker processes for big ones. np.add.at holds the GIL for part of
    its work: two threads count ~1.3x as fast as one, two processes ~1.7x (bench/rank_speed.py). Workers are forked (0.03 s) from a single-threaded process
    such as the CLI; a threaded one (the dashboard's server) could deadlock forked, so it spawns them (~1 s)."""
    work = len(kinds) * recording.layers * recording.cells * recording.n_chars * len(targets)
    start = "fork" if threading.active_count() == 1 else "spawn"
    if WORKERS == 1 or work < PROCESS_WORK[start]:
        return ThreadPoolExecutor(WORKERS), _scorer(recording, targets, chunk)
    pool = ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context(start), initializer=_start_worker,
                               initargs=(recording.path, targets, chunk))
    return pool, _score_in_worker


def score_cells(recording, target, kinds=("c", "h"), metric=None, chunk=64):
    """Score every cell of the given kinds against a concept over the recording's text.

    target: bool [n_chars] (binary concept, AUROC) or float [n_chars] (continuous concept, metric "spearman"
    by default or "pearson"; NaN positions ignored). Returns a DataFrame sorted by score, best first:
    layer, cell, kind, score (folded AUROC or |r|), sign (+1 high inside / with the target, -1 the opposite),
    metric, mean_in, mean_out (mean activation inside / outside a binary concept; NaN for continuous).
    """
    return score_many(recording, [target], kinds, [metric], chunk)[0]


def prepare(recording, target, metric=None):
    """(metric, target as the scorers take it), or ScoreError for a target that cannot be scored (constant on
    the text, of the wrong length, or an unknown metric)."""
    target = np.asarray(target)
    if len(target) != recording.n_chars:
        raise ScoreError(f"the target has {len(target)} positions, the recording {recording.n_chars}")
    if target.dtype == bool:
        if metric not in (None, "auroc"):
            raise ScoreError(f"a binary concept is scored by auroc, not {metric}")
        return "auroc", _prepare_mask(_binary_mask(target, recording.n_chars))
    metric = metric or "spearman"
    if metric not in ("pearson", "spearman"):
        raise ScoreError(f"a continuous concept is scored by pearson or spearman, not {metric}")
    return metric, _prepare_target(target, metric)


def score_many(recording, targets, kinds=("c", "h"), metrics=None, chunk=64, progress=None):
    """score_cells for several targets at once (the atlas: every concept), a list of DataFrames: each cell is
    read once and the histogram of all its positions made once for all of them, which on a 100k-character
    recording is about half the work of scoring each concept alone. progress(done, total): chunks of cells."""
    prepared = [prepare(recording, t, m) for t, m in zip(targets, metrics or [None] * len(targets))]
    for kind in kinds:
        recording.rows(kind, 0, 0, 0)  # an unrecorded kind fails here, before any work
    chunk = max(1, min(chunk, READ_ELEMENTS // recording.n_chars))
    jobs = [(kind, layer, start) for kind in kinds for layer in range(recording.layers)
            for start in range(0, recording.cells, chunk)]
    pool, score_chunk = _pool(recording, kinds, prepared, chunk)
    parts, keeping = [], value_counts.Keeper(recording.path)
    with pool, keeping:
        for (kind, _, _), (part, to_keep) in zip(jobs, pool.map(score_chunk, jobs)):
            parts.append(part)
            keeping.add(kind, to_keep)
            if progress:
                progress(len(parts), len(jobs))
    return [pd.concat([part[k] for part in parts], ignore_index=True)
            .sort_values("score", ascending=False, kind="stable", na_position="last").reset_index(drop=True)
            for k in range(len(prepared))]


def describe(concept_id=None, regex=None, span=None):
    if concept_id is not None:
        return f"concept {concept_id!r}"
    return f"regex {regex!r}" if regex is not None else f"span [{span[0]}, {span[1]})"


def concept_target(text, concept_id=None, regex=None, span=None):
    """What to score the cells against over text: a named concept, a regex's matches or a [start, stop) span."""
    if sum(x is not None for x in (concept_id, regex, span)) != 1:
        raise ConceptError("give exactly one of a concept, a regex or a span")
    if concept_id is not None:
        return concept_values(concept_id, text)
    if regex is not None:
        return regex_mask(regex, text)
    return span_mask(len(text), *span)


def rank_recording(rec, concept_id=None, regex=None, span=None, kinds=("c", "h"), metric=None):
    """Every cell of one recording scored against a concept, a regex or a span: score_cells' DataFrame, best
    first, with the recording's checkpoint and iteration as the first two columns. The CLI, Find and Compare
    all score through here."""
    target = concept_target(rec.text, concept_id, regex, span)
    try:
        scores = score_cells(rec, target, kinds=kinds, metric=metric)
    except CellscopeError as e:
        raise ScoreError(f"{describe(concept_id, regex, span)} on {rec.checkpoint}: {e}") from None
    return _labelled(rec, scores)


def _labelled(rec, scores):
    scores.insert(0, "checkpoint", rec.checkpoint)
    scores.insert(1, "iteration", rec.iteration)
    return scores


def rank_many(rec, concept_ids, kinds=("c", "h"), progress=None):
    """{concept: rank_recording(rec, concept, kinds=kinds), or the CellscopeError saying why it cannot be}, the
    scorable ones scored in one pass (score_many)."""
    results, targets = {}, {}
    for concept_id in concept_ids:
        try:
            targets[concept_id] = concept_target(rec.text, concept_id)
            prepare(rec, targets[concept_id])
        except CellscopeError as e:
            results[concept_id] = ScoreError(f"{describe(concept_id)} on {rec.checkpoint}: {e}")
            del targets[concept_id]
    if targets:
        for concept_id, scores in zip(targets, score_many(rec, list(targets.values()), kinds, progress=progress)):
            results[concept_id] = _labelled(rec, scores)
    return {concept_id: results[concept_id] for concept_id in concept_ids}
