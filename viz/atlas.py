"""The cell atlas: every cell (all layers, c and h; a GRU's or RNN's h) scored against every concept at once, each
cell's best concept, and the fraction of cells that pass a threshold: the paper's "about 5% of cells are
interpretable", measured.

Scores come from viz.ranking.rank_recording, through the disk cache the pages share (viz.score_cache): AUROC
folded to >= 0.5 for yes/no concepts, |Spearman r| for continuous ones. A concept constant on the text (no URL
in a novel) cannot be scored and is left out, with the reason. The atlas of a recording is cached beside it (atlas.json), keyed by the concepts and kinds scored; a
re-recording replaces the folder and so the cache.
"""
import json

import numpy as np
import pandas as pd

from model import rundir
from viz.concepts import CONCEPTS
from viz import score_cache

THRESHOLDS = {"auroc": 0.9, "spearman": 0.5}  # a cell is interpretable if it passes either for some concept
CACHE = "atlas.json"


def compute(rec, kinds=None, progress=None):
    """(scores [cells x concepts] DataFrame indexed by (layer, cell, kind), {concept: metric}, {concept: why
    left out}); kinds None: the recording's states. Every concept is scored in one pass over the cells
    (viz.score_cache.many); progress(done, total) follows it."""
    kinds = tuple(kinds or rec.state_kinds)
    scored, left_out = score_cache.many(rec, list(CONCEPTS), kinds, progress)
    columns = {concept: ranked.set_index(["layer", "cell", "kind"])["score"] for concept, ranked in scored.items()}
    metrics = {concept: ranked["metric"].iloc[0] for concept, ranked in scored.items()}
    scores = pd.DataFrame(columns).sort_index()
    return scores, metrics, left_out


def atlas(rec, kinds=None, progress=None):
    """compute(), from the cache beside the recording when it holds the same concepts and kinds (None: the
    recording's states)."""
    kinds = kinds or rec.state_kinds
    path = rec.path / CACHE
    key = {"concepts": list(CONCEPTS), "kinds": list(kinds), "text_sha256": rec.meta.get("text_sha256")}
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached["key"] == key:
            scores = pd.DataFrame(cached["scores"], columns=cached["columns"],
                                  index=pd.MultiIndex.from_tuples(map(tuple, cached["index"]),
                                                                  names=["layer", "cell", "kind"]))
            return scores, cached["metrics"], cached["left_out"]
    except (OSError, ValueError, KeyError):
        pass
    scores, metrics, left_out = compute(rec, kinds, progress)
    try:
        rundir.write_json(path, {"key": key, "columns": list(scores.columns), "index": list(scores.index),
                                 "scores": np.round(scores.to_numpy(np.float64), 5).tolist(), "metrics": metrics,
                                 "left_out": left_out})
    except OSError:
        pass  # a read-only recording: computed again next time
    return scores, metrics, left_out


def best_concepts(scores, metrics):
    """Per cell: its best concept by strength (2·AUROC − 1, or |r|: 0 = chance, 1 = perfect), that concept's
    score, and whether the cell passes the threshold of any concept."""
    strength = scores.copy()
    for concept, metric in metrics.items():
        if metric == "auroc":
            strength[concept] = 2 * scores[concept] - 1
    best = strength.fillna(-np.inf).idxmax(axis=1)
    score = pd.Series([scores.at[i, c] for i, c in best.items()], index=scores.index)
    passes = (scores >= pd.Series({c: THRESHOLDS[m] for c, m in metrics.items()})).any(axis=1)
    return pd.DataFrame({"best": best, "score": score, "strength": strength.max(axis=1), "interpretable": passes})


def fractions(best):
    """The interpretable fraction per layer and overall (over every cell and kind scored)."""
    per_layer = best.groupby(level="layer")["interpretable"].mean()
    return {**{f"layer {k}": float(v) for k, v in per_layer.items()}, "all": float(best["interpretable"].mean())}


def best_cells(scores):
    """Per concept: the best cell (layer, cell, kind) and its score."""
    return pd.DataFrame({"cell": scores.idxmax(), "score": scores.max()})
