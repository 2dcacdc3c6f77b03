"""One cell over a text window as a standalone HTML page: inline CSS, no script, no external URL, opens offline.

With several checkpoints the same window is stacked once per checkpoint, to watch a detector appear during
training. Hover works without JS: each character's title carries its value, the top-5 guesses and the loss.

    python -m viz.export runs/NAME --cell 1:42 --kind c --start 0 --stop 5000 -o page.html
"""
import argparse
import csv
import html
import json
import os
import sys
from pathlib import Path

from model.recording import Recording, RecordingError, iteration_of, list_recordings
from viz.colors import display_values, quantize, value_range
from viz.text_html import GLYPHS, render_page, render_text

KINDS = {"c": "cell state c, shown as tanh(c)", "h": "hidden state h", "i": "input gate", "f": "forget gate",
         "o": "output gate"}


class ExportError(Exception):
    """Bad input (unknown run, checkpoint, cell, window): the CLI prints it as one line."""


def _resolve(run_dir, checkpoints):
    """Checkpoint names -> recording paths, oldest first. None means the newest, "all" every recorded one."""
    if not run_dir.is_dir():
        raise ExportError(f"no run directory {run_dir}")
    found = list_recordings(run_dir)
    if not found:
        raise ExportError(f"{run_dir} has no recordings; make one with: python -m model.record {run_dir}")
    if checkpoints is None:
        return dict([list(found.items())[-1]])
    if checkpoints == "all":
        return found
    for name in checkpoints:
        if name not in found:
            hint = f"; record it with: python -m model.record {run_dir} --checkpoint {name}" \
                if (run_dir / "checkpoints" / f"{name}.safetensors").exists() else ""
            raise ExportError(f"no recording for checkpoint {name} in {run_dir} (recorded: {', '.join(found)}){hint}")
    return {name: path for name, path in found.items() if name in checkpoints}


def _corpus_name(run_dir):
    """The corpus file name from run.json, whether it stores a path or {"path": ..., "sha256": ...}."""
    try:
        corpus = json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("corpus")
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(corpus, dict):
        corpus = corpus.get("path") or corpus.get("name")
    return Path(corpus).name if isinstance(corpus, str) else None


def _val_loss(run_dir, rec, iteration):
    """Validation loss of the recorded checkpoint: from the recording's meta, else from the run's log.csv."""
    if rec.meta.get("val_loss") is not None:
        return float(rec.meta["val_loss"])
    try:
        with open(run_dir / "log.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row.get("iteration") == str(iteration) and row.get("val_loss"):
                    return float(row["val_loss"])
    except (OSError, ValueError):
        pass
    return None


def _titles(raw, shown, kind, chars, probs, loss, start):
    """Hover text per character: position, value, the five guesses for the next character, loss."""
    label = "tanh(c)" if kind == "c" else kind
    titles = []
    for i, (r, v, guesses, ps, l) in enumerate(zip(raw.tolist(), shown.tolist(), chars, probs.tolist(), loss.tolist())):
        value = f"{label} {v:+.3f}" + (f" (c {r:+.3f})" if kind == "c" else "")
        nxt = "  ".join(f"{GLYPHS.get(g, g)} {p:.0%}" for g, p in zip(guesses, ps))
        titles.append(f"#{start + i}  {value}\nnext: {nxt}" + ("" if l != l else f"\nloss {l:.2f} nats"))
    return titles


def export_html(run_dir, layer, cell, kind="c", start=0, stop=5000, checkpoints=None, top5=False, title=None):
    """The page as a string; the app's Download button and the CLI both call this.

    checkpoints: None (the newest), "all", or a list of checkpoint names (one stacked row each).
    """
    run_dir = Path(run_dir)
    if kind not in KINDS:
        raise ExportError(f"unknown kind {kind!r} (one of: {', '.join(KINDS)})")
    rows, labels = [], []
    for name, path in _resolve(run_dir, checkpoints).items():
        rec = Recording.open(path)
        if kind not in rec.kinds:
            raise ExportError(f"kind {kind} not recorded in {name} (recorded: {', '.join(rec.kinds)}); "
                              f"gates need: python -m model.record {run_dir} --gates")
        if not (0 <= layer < rec.layers and 0 <= cell < rec.cells):
            raise ExportError(f"cell {layer}:{cell} out of range: {rec.layers} layers x {rec.cells} cells")
        if not (0 <= start < rec.n_chars and start < stop):
            raise ExportError(f"window {start}:{stop} is empty or outside the {rec.n_chars} recorded characters")
        end = min(stop, rec.n_chars)
        raw = rec.series(layer, cell, kind, start, end)
        shown = display_values(raw, kind)
        chars, probs = rec.top5(start, end)
        titles = _titles(raw, shown, kind, chars, probs, rec.loss(start, end), start)
        spans = render_text(rec.window(start, end), quantize(shown, *value_range(kind)),
                            (chars, probs) if top5 else None, offset=start, titles=titles)
        iteration = rec.iteration if rec.iteration is not None else iteration_of(name)
        val_loss = _val_loss(run_dir, rec, iteration)
        label = f"{name} · iteration {iteration}" + ("" if val_loss is None else f" · val loss {val_loss:.3f}")
        rows.append(f'<div class="row"><div class="row-label">{html.escape(label)}</div><div class="cs-text">{spans}</div></div>')
        labels.append((name, iteration, val_loss))

    stacked = len(labels) > 1
    title = title or f"{run_dir.name} · cell {layer}:{cell} · {kind}"
    legend = {
        "run": run_dir.name,
        "corpus": _corpus_name(run_dir),
        "cell": f"layer {layer}, cell {cell}",
        "kind": KINDS[kind],
        "checkpoint": ", ".join(name for name, _, _ in labels) if stacked else labels[0][0],
        "iteration": None if stacked else labels[0][1],
        "val loss": None if stacked or labels[0][2] is None else f"{labels[0][2]:.3f} nats",
        "characters": f"{start} to {end} of {rec.n_chars}",
        "colour": "blue = low, white = middle, green = high; hover a character for its value and the "
                  "model's top-5 guesses for the next one",
        "guess rows": "the five guesses for the next character, shaded by probability" if top5 else None,
    }
    return render_page(title, legend, "\n".join(rows), scale=value_range(kind))


def _write_atomic(path, text):
    """Never leave a half-written page where a good one was: write beside it, fsync, rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _fail(message):
    print(f"viz.export: {message}", file=sys.stderr)
    sys.exit(2)


def _cell(value):
    layer, sep, cell = value.partition(":")
    if not (sep and layer.isdigit() and cell.isdigit()):
        raise argparse.ArgumentTypeError(f"--cell wants LAYER:CELL, e.g. 1:42 (got {value!r})")
    return int(layer), int(cell)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m viz.export", description=__doc__.split("\n\n")[0])
    parser.error = _fail  # one line on stderr, not a usage dump
    parser.add_argument("run", type=Path, help="run directory, e.g. runs/NAME")
    parser.add_argument("--cell", required=True, type=_cell, metavar="LAYER:CELL", help="counted from 0")
    parser.add_argument("--kind", default="c", choices=list(KINDS))
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--stop", type=int, default=5000)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--checkpoint", action="append", help="e.g. iter-000500; repeat to stack (default: newest)")
    which.add_argument("--all-checkpoints", action="store_true", help="stack every recorded checkpoint")
    parser.add_argument("--top5", action="store_true", help="show the five guesses under every character")
    parser.add_argument("--title")
    parser.add_argument("-o", "--output", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        page = export_html(args.run, *args.cell, kind=args.kind, start=args.start, stop=args.stop,
                           checkpoints="all" if args.all_checkpoints else args.checkpoint, top5=args.top5,
                           title=args.title)
        _write_atomic(args.output, page)
    except (ExportError, RecordingError) as e:
        _fail(str(e))
    except OSError as e:
        _fail(f"cannot write {args.output}: {e.strerror or e}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
