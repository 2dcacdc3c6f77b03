"""Which cells detect a concept? Rank every cell of a run's recordings against it, from the command line.

python -m viz.rank runs/NAME (--concept NAME | --regex PATTERN) [--checkpoint iter-000500 | --all-checkpoints]
                   [--kinds c,h] [--top 10] [--json]
python -m viz.rank --list-concepts

--all-checkpoints is the emergence table: the best cell at each recorded checkpoint, oldest first. The
functions here are what the dashboard's Find view calls; main() is only the argument parsing around them.
"""
import argparse
import sys
from pathlib import Path

import pandas as pd

from model.recording import Recording, RecordingError, list_recordings
from viz.concepts import CONCEPTS, concept_values, regex_mask, span_mask
from viz.ranking import score_cells

COLUMNS = ["checkpoint", "iteration", "layer", "cell", "kind", "score", "sign", "metric"]


def _describe(concept_id=None, regex=None, span=None):
    if concept_id is not None:
        return f"concept {concept_id!r}"
    return f"regex {regex!r}" if regex is not None else f"span [{span[0]}, {span[1]})"


def concept_target(text, concept_id=None, regex=None, span=None):
    """What to score the cells against over text: a named concept, a regex's matches or a [start, stop) span."""
    if sum(x is not None for x in (concept_id, regex, span)) != 1:
        raise ValueError("give exactly one of a concept, a regex or a span")
    if concept_id is not None:
        if concept_id not in CONCEPTS:
            raise ValueError(f"unknown concept {concept_id!r}; known concepts: {', '.join(CONCEPTS)}")
        return concept_values(concept_id, text)
    if regex is not None:
        return regex_mask(regex, text)
    return span_mask(len(text), *span)


def rank_recording(rec, concept_id=None, regex=None, span=None, kinds=("c", "h"), metric=None):
    """Every cell of one recording scored against a concept, a regex or a span: score_cells' DataFrame, best
    first, with the recording's checkpoint and iteration as the first two columns. Bad input: ValueError."""
    target = concept_target(rec.text, concept_id, regex, span)
    try:
        scores = score_cells(rec, target, kinds=kinds, metric=metric)
    except (ValueError, KeyError) as e:
        raise ValueError(f"{_describe(concept_id, regex, span)} on {rec.checkpoint}: {e.args[0]}") from None
    scores.insert(0, "checkpoint", rec.checkpoint)
    scores.insert(1, "iteration", rec.iteration)
    return scores


def open_recordings(run_dir, checkpoint=None, all_checkpoints=False):
    """The recordings asked for, oldest first: one checkpoint's, every one, or (by default) the newest."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run directory {run_dir} does not exist")
    found = list_recordings(run_dir)
    if not found:
        raise ValueError(f"run {run_dir} has no recordings yet; make one with: python -m model.record {run_dir}")
    if all_checkpoints:
        names = list(found)
    elif checkpoint is not None:
        if checkpoint not in found:
            raise ValueError(f"no recording of {checkpoint} in {run_dir}; recorded: {', '.join(found)}")
        names = [checkpoint]
    else:
        names = [list(found)[-1]]
    try:
        return [Recording.open(found[name]) for name in names]
    except RecordingError as e:
        raise ValueError(str(e)) from None


def rank_run(run_dir, concept_id=None, regex=None, kinds=("c", "h"), checkpoint=None, all_checkpoints=False,
             top=10):
    """The top cells of each chosen recording of a run, checkpoints in increasing iteration."""
    recordings = open_recordings(run_dir, checkpoint, all_checkpoints)
    parts = [rank_recording(rec, concept_id, regex, kinds=kinds).head(top) for rec in recordings]
    return pd.concat(parts, ignore_index=True)


def format_table(rows):
    """A plain aligned table of ranked cells."""
    shown = rows[COLUMNS].copy()
    shown["score"] = shown["score"].map("{:.3f}".format)
    shown["sign"] = shown["sign"].map("{:+d}".format)
    return shown.to_string(index=False)


def fail(message):
    """Bad input: one line on stderr, exit status 2 (as argparse's own errors)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m viz.rank", description=__doc__.split("\n\n")[0])
    parser.error = fail
    parser.add_argument("run", nargs="?", help="run directory, e.g. runs/NAME")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--concept", help="a concept id (see --list-concepts)")
    target.add_argument("--regex", help="positions inside any match of this Python regular expression")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--checkpoint", help="recording to rank, e.g. iter-000500 (default: the newest)")
    which.add_argument("--all-checkpoints", action="store_true", help="the best cells at every recorded checkpoint")
    parser.add_argument("--kinds", default="c,h", help="comma-separated kinds to rank (default: c,h)")
    parser.add_argument("--top", type=int, default=10, help="cells shown per checkpoint (default: 10)")
    parser.add_argument("--json", action="store_true", help="print a JSON list of rows instead of a table")
    parser.add_argument("--list-concepts", action="store_true", help="list the concepts and exit")
    args = parser.parse_args(argv)

    if args.list_concepts:
        for c in CONCEPTS.values():
            print(f"{c.id:<18} {c.kind:<11} {c.description}")
        return
    try:
        if args.run is None:
            raise ValueError("give a run directory, e.g. python -m viz.rank runs/NAME --concept quotes")
        if args.concept is None and args.regex is None:
            raise ValueError("give --concept NAME or --regex PATTERN (--list-concepts shows the concepts)")
        if args.top < 1:
            raise ValueError("--top must be at least 1")
        kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
        if not kinds:
            raise ValueError("--kinds needs at least one kind, e.g. c,h")
        top = 1 if args.all_checkpoints and not args.json else args.top
        rows = rank_run(args.run, args.concept, args.regex, kinds, args.checkpoint, args.all_checkpoints, top)
    except ValueError as e:
        fail(e)
    if args.json:
        print(rows[COLUMNS].to_json(orient="records"))
        return
    what = _describe(args.concept, args.regex)
    if args.all_checkpoints:
        print(f"best cell at each checkpoint of {args.run} for {what}:")
    else:
        print(f"top {len(rows)} cells of {args.run} for {what}:")
    print(format_table(rows))


if __name__ == "__main__":
    main()
