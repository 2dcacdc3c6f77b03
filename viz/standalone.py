"""One cell over a text window as a standalone HTML page: inline CSS, no script, no external URL, opens offline.

With several checkpoints the same window is stacked once per checkpoint, to watch a detector appear during
training. Hover works without JS: each character's title carries what the app's hover box shows (position,
value, the top-5 guesses for the next character, loss). The CLI is viz/export.py; Browse's Export button calls
export_html too.
"""
import html
from pathlib import Path

from model import rundir
from model.recording import Recording
from viz import char_loss
from viz.colors import KIND_LABELS, display_values, quantize, value_range
from viz.text_html import GLYPHS, render_page, render_text, scale_bar

KINDS = {"c": "cell state c, shown as tanh(c)", "h": "hidden state h", "i": "input gate", "f": "forget gate",
         "o": "output gate", "r": "reset gate r (GRU)", "z": "update gate z (GRU)",
         "n": "candidate n = tanh(W_in x + r (W_hn h + b_hn)) (GRU)"}


def chosen_recordings(run_dir, checkpoints):
    """Checkpoint names -> recording paths, oldest first. None means the newest, "all" every recorded one."""
    if not run_dir.is_dir():
        raise rundir.RunError(f"no run directory {run_dir}")
    found = rundir.recordings(run_dir)
    if checkpoints == "all" and found:
        return found
    names = [rundir.named_or_newest(found, name, "recording", run_dir, rundir.record_hint(run_dir, name))
             for name in (checkpoints if checkpoints not in (None, "all") else [None])]
    return {name: path for name, path in found.items() if name in names}


def _titles(raw, shown, kind, chars, probs, loss, start):
    """Hover text per character: position, value, the five guesses for the next character, loss."""
    label = KIND_LABELS[kind]
    titles = []
    for i, (r, v, guesses, ps, l) in enumerate(zip(raw.tolist(), shown.tolist(), chars, probs.tolist(), loss.tolist())):
        value = f"{label} {v:+.3f}" + (f" (c {r:+.3f})" if kind == "c" else "")
        nxt = "  ".join(f"{GLYPHS.get(g, g)} {p:.0%}" for g, p in zip(guesses, ps))
        titles.append(f"#{start + i}  {value}\nnext: {nxt}" + ("" if l != l else f"\nloss {l:.2f} nats"))
    return titles


def _own_losses(lstm, ngram):
    """Hover lines for colouring by loss: each character's own loss, the LSTM's and the n-gram's (if beside)."""
    ngram = [None] * len(lstm) if ngram is None else ngram.tolist()
    return ["" if a != a else f"\nthis character: LSTM loss {a:.2f} nats" + ("" if b is None or b != b else
                                                                             f", n-gram {b:.2f}")
            for a, b in zip(lstm.tolist(), ngram)]


def export_html(run_dir, layer, cell, kind=None, start=0, stop=5000, checkpoints=None, top5=False, title=None,
                colour="cell"):
    """The page as a string. checkpoints: None (the newest), "all", or a list of names (one stacked row each).
    kind: None for the recording's first (an LSTM's c, a GRU's or RNN's h). colour: "cell", or "loss" or
    "advantage" (viz/char_loss.py) as Browse can colour the text; the cell's values stay in the hover text."""
    run_dir = Path(run_dir)
    if kind is not None and kind not in KINDS:
        raise rundir.RunError(f"unknown kind {kind!r} (one of: {', '.join(KINDS)})")
    if colour != "cell" and colour not in char_loss.SCALES:
        raise rundir.RunError(f"unknown colour {colour!r} (one of: cell, {', '.join(char_loss.SCALES)})")
    rows, labels = [], []
    for name, path in chosen_recordings(run_dir, checkpoints).items():
        rec = Recording.open(path)
        kind = kind or rec.kinds[0]
        rec.check_cell(layer, cell)
        rec.check_window(start, stop)
        end = min(stop, rec.n_chars)
        raw = rec.series(layer, cell, kind, start, end)
        shown = display_values(raw, kind)
        chars, probs = rec.top5(start, end)
        titles = _titles(raw, shown, kind, chars, probs, rec.loss(start, end), start)
        if colour == "cell":
            prefix, levels = "v", quantize(shown, *value_range(kind))
        else:
            losses = char_loss.char_losses(rec, start, end)
            prefix, levels = char_loss.SCALES[colour][0], char_loss.levels(rec, colour, losses, run_dir)
            titles = [t + own for t, own in zip(titles, _own_losses(*losses))]
        spans = render_text(rec.window(start, end), levels, (chars, probs) if top5 else None, offset=start,
                            titles=titles, scale=prefix)
        val_loss = rundir.val_loss(run_dir, rec.iteration, rec.meta)
        label = f"{name} · iteration {rec.iteration}" + ("" if val_loss is None else f" · val loss {val_loss:.3f}")
        rows.append(f'<div class="row"><div class="row-label">{html.escape(label)}</div><div class="cs-text">{spans}</div></div>')
        labels.append((name, rec.iteration, val_loss))

    stacked = len(labels) > 1
    shows = f"cell {layer}:{cell} · {kind}"
    shows = shows if colour == "cell" else f"{colour} ({shows} in the hover)"
    title = title or f"{run_dir.name} · {shows}"
    legend = {
        "run": run_dir.name,
        "corpus": rundir.corpus_name(run_dir),
        "cell": f"layer {layer}, cell {cell}",
        "kind": KINDS[kind],
        "checkpoint": ", ".join(name for name, _, _ in labels) if stacked else labels[0][0],
        "iteration": None if stacked else labels[0][1],
        "val loss": None if stacked or labels[0][2] is None else f"{labels[0][2]:.3f} nats",
        "characters": f"{start} to {end} of {rec.n_chars}",
        "colour": ("blue = low, white = middle, green = high" if colour == "cell" else char_loss.SCALES[colour][1])
                  + "; hover a character for its value and the model's top-5 guesses for the next one",
        "guess rows": "the five guesses for the next character, shaded by probability" if top5 else None,
    }
    if colour == "cell":
        lo, hi = value_range(kind)
        bar = scale_bar("v", f"{lo:g}", f"{hi:g}", f"middle = {(lo + hi) / 2:g}")
    else:
        prefix, _, (lo, hi), (left, right), reverse = char_loss.SCALES[colour]
        bar = scale_bar(prefix, lo, hi, f"{left} … {right}", reverse)
    return render_page(title, legend, bar + "\n" + "\n".join(rows))
