"""Which cells detect a concept? Rank every cell of a run's recordings against it, from the command line.

python -m viz.rank runs/NAME (--concept NAME | --regex PATTERN) [--checkpoint iter-000500 | --all-checkpoints]
                   [--kinds c,h] [--top 10] [--json]
python -m viz.rank runs/NAME --atlas [--checkpoint iter-000500] [--json | --csv FILE]
python -m viz.rank --list-concepts

--all-checkpoints is the emergence table: the best cell at each recorded checkpoint, oldest first. The scoring
is viz.ranking.rank_recording, kept on disk beside each recording by viz.score_cache, which the Find and Compare
pages read: ranking a run's checkpoints here makes their charts instant.
"""
from pathlib import Path

import pandas as pd

from model import rundir
from model.errors import ArgumentParser, CellscopeError, reported
from model.recording import Recording
from viz import atlas
from viz.concepts import CONCEPTS
from viz.ranking import describe
from viz import score_cache

COLUMNS = ["checkpoint", "iteration", "layer", "cell", "kind", "score", "sign", "metric"]


def open_recordings(run_dir, checkpoint=None, all_checkpoints=False):
    """The recordings asked for, oldest first: one checkpoint's, every one, or (by default) the newest."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise rundir.RunError(f"run directory {run_dir} does not exist")
    found = rundir.recordings(run_dir)
    names = list(found) if all_checkpoints and found else \
        [rundir.named_or_newest(found, checkpoint, "recording", run_dir, rundir.record_hint(run_dir, checkpoint))]
    return [Recording.open(found[name]) for name in names]


def rank_run(run_dir, concept_id=None, regex=None, kinds=None, checkpoint=None, all_checkpoints=False, top=10):
    """The top cells of each chosen recording of a run, checkpoints in increasing iteration; kinds None: the
    recording's states (an LSTM's c and h, a GRU's or RNN's h)."""
    recordings = open_recordings(run_dir, checkpoint, all_checkpoints)
    parts = [score_cache.scores(rec, concept_id, regex, kinds=tuple(kinds or rec.state_kinds)).head(top)
             for rec in recordings]
    return pd.concat(parts, ignore_index=True)


def format_table(rows):
    """A plain aligned table of ranked cells."""
    shown = rows[COLUMNS].copy()
    shown["score"] = shown["score"].map("{:.3f}".format)
    shown["sign"] = shown["sign"].map("{:+d}".format)
    return shown.to_string(index=False)


def kinds_of(flag):
    if flag is None:
        return None
    kinds = tuple(k.strip() for k in flag.split(",") if k.strip())
    if not kinds:
        raise CellscopeError("--kinds needs at least one kind, e.g. c,h")
    return kinds


def print_atlas(rec, kinds, args):
    """The interpretable fraction per layer, the best cell per concept, and (--csv) the whole table."""
    kinds = kinds or rec.state_kinds
    scores, metrics, left_out = atlas.atlas(rec, kinds)
    best = atlas.best_concepts(scores, metrics)
    fractions = atlas.fractions(best)
    if args.csv:
        rundir.atomic_write(args.csv, scores.join(best).reset_index().to_csv(index=False, float_format="%.4f"))
    if args.json:
        per_concept = atlas.best_cells(scores)
        print(pd.Series({"checkpoint": rec.checkpoint, "fractions": fractions, "thresholds": atlas.THRESHOLDS,
                         "best_cells": {c: {"layer": int(i[0]), "cell": int(i[1]), "kind": i[2], "score": float(s)}
                                        for c, (i, s) in per_concept.iterrows()},
                         "left_out": left_out}).to_json())
        return
    print(f"atlas of {args.run} at {rec.checkpoint}: {len(scores):,} cells ({', '.join(kinds)}) x {len(metrics)} "
          f"concepts; interpretable = AUROC >= {atlas.THRESHOLDS['auroc']} or |r| >= {atlas.THRESHOLDS['spearman']}"
          " for some concept")
    print("interpretable fraction: " + ", ".join(f"{k} {v:.1%}" for k, v in fractions.items()))
    table = atlas.best_cells(scores).join(best[best["interpretable"]].groupby("best").size().rename("cells"))
    table["cell"] = [f"{layer}:{cell} {kind}" for layer, cell, kind in table["cell"]]
    table["metric"] = pd.Series(metrics)
    print(table.fillna({"cells": 0}).astype({"cells": int}).to_string(float_format="{:.3f}".format))
    if left_out:
        print(f"left out (constant on this text): {', '.join(left_out)}")


def main(argv=None):
    parser = ArgumentParser(prog="python -m viz.rank", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", nargs="?", help="run directory, e.g. runs/NAME")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--concept", help="a concept id (see --list-concepts)")
    target.add_argument("--regex", help="positions inside any match of this Python regular expression")
    target.add_argument("--atlas", action="store_true",
                        help="every cell against every concept: the interpretable fraction per layer (cached)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--checkpoint", help="recording to rank, e.g. iter-000500 (default: the newest)")
    which.add_argument("--all-checkpoints", action="store_true", help="the best cells at every recorded checkpoint")
    parser.add_argument("--kinds", help="comma-separated kinds to rank (default: the states, c,h for an LSTM, h "
                                        "for a GRU or RNN)")
    parser.add_argument("--top", type=int, default=10, help="cells shown per checkpoint (default: 10)")
    parser.add_argument("--json", action="store_true", help="print a JSON list of rows instead of a table")
    parser.add_argument("--csv", type=Path, help="with --atlas: write the cells x concepts table to this file")
    parser.add_argument("--list-concepts", action="store_true", help="list the concepts and exit")
    args = parser.parse_args(argv)

    if args.list_concepts:
        for c in CONCEPTS.values():
            print(f"{c.id:<18} {c.kind:<11} {c.description}")
        return
    with reported():
        if args.run is None:
            raise CellscopeError("give a run directory, e.g. python -m viz.rank runs/NAME --concept quotes")
        if args.atlas:
            if args.all_checkpoints:
                raise CellscopeError("--atlas is of one recording: give --checkpoint NAME or none for the newest")
            return print_atlas(open_recordings(args.run, args.checkpoint)[0], kinds_of(args.kinds), args)
        if args.concept is None and args.regex is None:
            raise CellscopeError("give --concept NAME, --regex PATTERN or --atlas (--list-concepts shows the concepts)")
        if args.top < 1:
            raise CellscopeError("--top must be at least 1")
        kinds = kinds_of(args.kinds)
        top = 1 if args.all_checkpoints and not args.json else args.top
        rows = rank_run(args.run, args.concept, args.regex, kinds, args.checkpoint, args.all_checkpoints, top)
    if args.json:
        print(rows[COLUMNS].to_json(orient="records"))
        return
    what = describe(args.concept, args.regex)
    if args.all_checkpoints:
        print(f"best cell at each checkpoint of {args.run} for {what}:")
    else:
        print(f"top {len(rows)} cells of {args.run} for {what}:")
    print(format_table(rows))


if __name__ == "__main__":
    main()
