"""Scores kept on disk beside the recording (recordings/iter-NNNNNN/scores/), so that the second view of a
concept, another server worker and a restarted server all get it at once, and `python -m viz.rank` fills the
same cache the pages read.

An entry is viz.ranking.rank_recording's table for one (target, kinds), named by a hash of them and holding the
recording's checksums, so a re-recorded checkpoint (a new folder, new checksums) is never answered from old
scores. A recording that cannot be written to (read-only) is scored each time, as before the cache.
"""
import functools
import hashlib
import json

import pandas as pd

from model import rundir
from viz.ranking import rank_many, rank_recording

FOLDER = "scores"


def entry(rec, concept_id=None, regex=None, span=None, kinds=("c", "h")):
    """(path of the cache entry, the key it must hold) for this recording and target."""
    key = {"concept": concept_id, "regex": regex, "span": list(span) if span else None, "kinds": list(kinds),
           "recording": [rec.meta.get("checkpoint_sha256"), rec.meta.get("text_sha256")]}
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return rec.path / FOLDER / f"{name}.json", key


def is_cached(rec, **target):
    """Whether the entry is on disk (a stat: the pages ask on every redraw; its name is a hash of its key, and
    scores() checks the key when it reads it)."""
    return entry(rec, **target)[0].is_file()


@functools.lru_cache(maxsize=256)
def scores(rec, concept_id=None, regex=None, span=None, kinds=("c", "h")):
    """rank_recording(rec, ...) from the disk cache, computing and storing it when missing (kept in memory too:
    the recording is part of the key, and the app opens a new one when a checkpoint is re-recorded)."""
    target = dict(concept_id=concept_id, regex=regex, span=span, kinds=kinds)
    cached = _read(*entry(rec, **target))
    if cached is None:
        cached = rank_recording(rec, **target)
        _store(rec, cached, **target)
    return cached


def many(rec, concept_ids, kinds=("c", "h"), progress=None):
    """({concept: its scores}, {concept: why it has none}) for many concepts (the atlas, Find's overview), in
    the order given: the cached ones read, the rest scored in one pass over the cells (viz.ranking.rank_many)
    and stored."""
    found = {c: _read(*entry(rec, concept_id=c, kinds=kinds)) for c in concept_ids}
    missing = [c for c, table in found.items() if table is None]
    for concept_id, table in rank_many(rec, missing, kinds, progress).items():
        if not isinstance(table, Exception):
            _store(rec, table, concept_id=concept_id, kinds=kinds)
        found[concept_id] = table
    return ({c: t for c, t in found.items() if not isinstance(t, Exception)},
            {c: str(t) for c, t in found.items() if isinstance(t, Exception)})


def _store(rec, table, **target):
    path, key = entry(rec, **target)
    try:
        path.parent.mkdir(exist_ok=True)
        rundir.write_json(path, {"key": key, "dtypes": {c: str(t) for c, t in table.dtypes.items()},
                                 "rows": table.astype(object).where(table.notna(), None).values.tolist()})
    except OSError:
        pass  # a read-only recording: scored again next time


def _read(path, key):
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if cached.get("key") != key:
        return None
    return pd.DataFrame(cached["rows"], columns=list(cached["dtypes"])).astype(cached["dtypes"])
