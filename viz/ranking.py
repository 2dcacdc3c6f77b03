"""Score every cell of a recording against a concept: which cells detect it?

Binary concept: AUROC of each cell's activation as a detector of the mask (Mann-Whitney U, ties averaged),
folded to >= 0.5 with the sign kept (-1: the cell is low inside the concept). Continuous concept: Pearson
or Spearman correlation. Rank measures are invariant to any increasing map, so raw c scores as tanh(c).

Recordings are float16, which has only 65536 bit patterns: one np.bincount per cell over the bit patterns
(offset by the position's group) gives every rank, tie and sum exactly in O(n), where sorting each cell
costs O(n log n). On a million characters: 5 ms of CPU per cell this way, 140-180 ms for argsort alone
(bench/rank_speed.py). Cells are read from the memory map one at a time, chunks of cells in parallel
threads, so memory stays bounded whatever the recording's length.
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

N_PATTERNS = 1 << 16
WORKERS = len(os.sched_getaffinity(0))  # np.add and np.bincount release the GIL: one thread per core

# float16 bit patterns in increasing value: negatives are 0xFBFF (-65504) down to 0x8001, then 0 (with -0,
# 0x8000, folded in), then 0x0001 up to 0x7BFF (65504). Infinities and NaNs are left out.
_NEG_ZERO, _NEG_MAX, _POS_INF = 0x8000, 0xFBFF, 0x7C00


def _by_value(hist):
    """[..., 65536] counts per bit pattern -> [..., n_values] per distinct finite value, increasing."""
    hist[..., 0] += hist[..., _NEG_ZERO]
    return np.concatenate([hist[..., _NEG_MAX:_NEG_ZERO:-1], hist[..., :_POS_INF]], axis=-1)


SORTED_VALUES = _by_value(np.arange(N_PATTERNS, dtype=np.uint16).view(np.float16).astype(np.float64))


def _histograms(rows, group, weights=(None,)):
    """For each row of float16 values, np.bincount of (bit pattern + group * 65536), once per weight vector.

    group [n] (0 or 1) separates positions: outside/inside a mask, or ignored/used. Yields, per row and
    weight vector, (group 0, group 1) histograms by distinct value (int64 counts or float64 weight sums).
    Rows are finished one at a time so each histogram is used while it is still in cache.
    """
    offset = group.astype(np.intp) * N_PATTERNS
    buf = np.empty(rows.shape[1], np.intp)
    for row in rows:
        np.add(row.view(np.uint16), offset, out=buf)
        hists = [np.bincount(buf, weights=w, minlength=2 * N_PATTERNS) for w in weights]
        yield [(_by_value(h[:N_PATTERNS]), _by_value(h[N_PATTERNS:])) for h in hists]


def _dot(a, b):
    """a . b without BLAS: on a busy 2-core box a threaded BLAS dot of 64k values costs 100x its work."""
    return np.add.reduce(a * b)


def _check_float16(values):
    values = np.asarray(values)
    if values.dtype != np.float16:
        raise TypeError(f"values must be float16 (a recording's dtype), got {values.dtype}")
    return np.atleast_2d(values)


def _auroc_and_means(values, mask):
    """Unfolded AUROC, mean inside, mean outside for each row of float16 values [cells, n]."""
    result = np.empty((3, len(values)))
    for i, [(out, inside)] in enumerate(_histograms(values, mask)):
        out_up_to = np.cumsum(out)
        n_out, n_in = out_up_to[-1], inside.sum()
        twice_u = _dot(inside, 2 * out_up_to - out)  # each inside value beats the outside ones below, ties half
        result[0, i] = twice_u / (2.0 * n_in * n_out)
        result[1, i] = _dot(inside, SORTED_VALUES) / n_in
        result[2, i] = _dot(out, SORTED_VALUES) / n_out
    return result


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
    """(used positions, target centered over them and 0 elsewhere, its sum of squares) for a correlation."""
    target = np.asarray(target, dtype=np.float64)
    used = ~np.isnan(target)
    y = np.zeros(len(target))
    y[used] = average_ranks(target[used]) if metric == "spearman" else target[used]
    y[used] -= y[used].mean()
    total = float(_dot(y, y))
    if total == 0.0:
        raise ValueError("the concept is constant on this text: a correlation needs it to vary")
    return used, y, total


def _correlations(values, used, centered, total, metric):
    """Pearson or Spearman correlation of each row of float16 values with a prepared target."""
    r = np.zeros(len(values))
    for i, [(_, counts), (_, sums)] in enumerate(_histograms(values, used, weights=(None, centered))):
        if metric == "spearman":
            x = np.cumsum(counts) - (counts - 1) / 2.0  # average rank of each distinct value
        else:
            x = SORTED_VALUES
        d = x - _dot(counts, x) / counts.sum()
        denom = np.sqrt(_dot(counts, d * d) * total)
        if denom > 0:  # a constant cell correlates 0
            r[i] = _dot(sums, d) / denom  # sum over positions of (x - mean x) * (y - mean y), normalized
    return r


def pearson(values, target):
    """Pearson correlation of each row of float16 values [cells, n] with target [n] (NaN positions ignored)."""
    return _correlations(_check_float16(values), *_prepare_target(target, "pearson"), "pearson")


def spearman(values, target):
    """Spearman correlation of each row of float16 values [cells, n] with target [n] (NaN positions ignored)."""
    return _correlations(_check_float16(values), *_prepare_target(target, "spearman"), "spearman")


def _binary_mask(mask, n):
    mask = np.asarray(mask, dtype=bool)
    if len(mask) != n:
        raise ValueError(f"the mask has {len(mask)} positions, the values {n}")
    inside = int(mask.sum())
    if inside == 0 or inside == n:
        where = "nowhere" if inside == 0 else "everywhere"
        raise ValueError(f"the concept is true {where} in this text ({n} characters): "
                         "AUROC needs positions both inside and outside it")
    return mask


def score_cells(recording, target, kinds=("c", "h"), metric=None, chunk=64):
    """Score every cell of the given kinds against a concept over the recording's text.

    target: bool [n_chars] (binary concept, AUROC) or float [n_chars] (continuous concept, metric "spearman"
    by default or "pearson"; NaN positions ignored). Returns a DataFrame sorted by score, best first:
    layer, cell, kind, score (folded AUROC or |r|), sign (+1 high inside / with the target, -1 the opposite),
    metric, mean_in, mean_out (mean activation inside / outside a binary concept; NaN for continuous).
    """
    target = np.asarray(target)
    if len(target) != recording.n_chars:
        raise ValueError(f"the target has {len(target)} positions, the recording {recording.n_chars}")
    if target.dtype == bool:
        if metric not in (None, "auroc"):
            raise ValueError(f"a binary concept is scored by auroc, not {metric}")
        metric, mask = "auroc", _binary_mask(target, recording.n_chars)
    else:
        metric = metric or "spearman"
        if metric not in ("pearson", "spearman"):
            raise ValueError(f"a continuous concept is scored by pearson or spearman, not {metric}")
        prepared = _prepare_target(target, metric)

    def score_chunk(job):
        kind, layer, start = job
        rows = recording.array(kind)[layer, start:start + chunk]
        if metric == "auroc":
            auc, mean_in, mean_out = _auroc_and_means(rows, mask)
            score, sign = np.maximum(auc, 1 - auc), np.where(auc >= 0.5, 1, -1)
        else:
            r = _correlations(rows, *prepared, metric)
            score, sign = np.abs(r), np.where(r >= 0, 1, -1)
            mean_in = mean_out = np.full(len(r), np.nan)
        return pd.DataFrame({"layer": layer, "cell": np.arange(start, start + len(rows)), "kind": kind,
                             "score": score, "sign": sign, "metric": metric, "mean_in": mean_in, "mean_out": mean_out})

    for kind in kinds:
        recording.array(kind)  # an unrecorded kind fails here, before any work
    jobs = [(kind, layer, start) for kind in kinds for layer in range(recording.layers)
            for start in range(0, recording.cells, chunk)]
    with ThreadPoolExecutor(WORKERS) as pool:  # chunks in parallel: np.add and np.bincount release the GIL
        frame = pd.concat(pool.map(score_chunk, jobs), ignore_index=True)
    return frame.sort_values("score", ascending=False, kind="stable", na_position="last").reset_index(drop=True)
