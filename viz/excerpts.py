"""A cell's strongest positions, each as a short coloured excerpt: Browse's side panel and Find's.

"Strongest" means one thing everywhere: where sign * raw value is largest. Find knows its detector's sign (+1:
high inside the concept, -1: low inside). Browse has no concept, so it takes the cell's larger tail: the side of
its mean that reaches further (a cell that rests near -0.1 and fires up to +0.9 is strongest where it fires).
The raw values are ranked, not tanh(c), which saturates and would tie at +-1.
"""
import html

import numpy as np

from viz.colors import display_values, quantize, value_range
from viz.positions import strongest_positions
from viz.text_html import render_text


def larger_tail(raw):
    """+1 when the values reach further above their mean than below it, else -1."""
    mean = np.nanmean(raw)
    return 1 if np.nanmax(raw) - mean >= mean - np.nanmin(raw) else -1


def excerpts(rec, raw, kind, k, before, after, sign=None, note=None):
    """[(position, html)] of the k strongest positions of `raw` (one cell's whole series in rec), strongest
    first. html: "#position value" (and note(position), when given), then the position with `before`
    characters before it and `after` - 1 after, coloured, the position itself in <span class="at">; the text is
    escaped by viz.text_html."""
    sign = larger_tail(raw) if sign is None else sign
    out = []
    for pos in strongest_positions(sign * raw, k, before + after):
        a, b = max(0, pos - before), min(rec.n_chars, pos + after)
        shown = display_values(raw[a:b], kind)
        levels = quantize(shown, *value_range(kind))
        i = pos - a
        label = f"#{pos} {shown[i]:+.2f}" + ("" if note is None else f" {note(pos)}")
        out.append((pos, f'<span class="ex-at">{html.escape(label)}</span> '
                         + render_text(rec.window(a, pos), levels[:i], offset=a)
                         + '<span class="at">' + render_text(rec.window(pos, pos + 1), levels[i:i + 1], offset=pos)
                         + "</span>" + render_text(rec.window(pos + 1, b), levels[i + 1:], offset=pos + 1)))
    return out
