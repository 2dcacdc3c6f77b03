"""THE colored-text renderer: text (+ levels, + top-5 guesses) -> HTML, shared by the app, the export and tests.

Every character becomes `<span class="ch v{level}" data-i="{position}">`. The app inserts the spans once per
text window and its one painter (assets/cellscope.js) recolours them by replacing only the level class, keeping
the base classes (`ch`, a concept's underline `u`, the chosen position `at`); whitespace glyphs and guesses live
in their own elements.
With top-5 guesses, each character is an inline-block column with its five guesses stacked beneath it (the
layout of Karpathy et al. 2015, figure 5), so columns stay aligned and lines still break at newlines.
"""
import html

import numpy as np

from viz.colors import N_LEVELS, level_css, prob_shade

N_SHADES = 11  # guess probabilities are shown in steps of 0.1

# Whitespace and control characters get a faint visible glyph (control pictures, U+2400 block) so they can
# carry colour; the newline also keeps the line structure with a real <br>.
GLYPHS = {" ": "·", "\t": "→", "\n": "↵", "\r": "␍", "\x7f": "␡"}
GLYPHS.update({chr(c): chr(0x2400 + c) for c in range(0x20) if chr(c) not in GLYPHS})

_BASE_CSS = """\
.cs-text { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 14px;
  line-height: 1.5; word-break: break-all; color: #111; }
.cs-text .ws { opacity: 0.4; }
.cs-text .col { display: inline-block; vertical-align: top; text-align: center; margin-bottom: 0.6em; }
.cs-text .col > span { display: block; }
.cs-text .g { font-size: 0.85em; line-height: 1.35; }
"""
_SHADE_CSS = "".join(f".cs-text .p{k} {{ background: {prob_shade(k / (N_SHADES - 1))} }}\n" for k in range(N_SHADES))
TEXT_CSS = _BASE_CSS + _SHADE_CSS + level_css()  # the one stylesheet for app and export; wrap text in .cs-text

_PAGE_CSS = """\
body { font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #111; background: #fff; }
h1 { font-size: 1.3em; margin: 0 0 0.6em; }
table.legend { border-collapse: collapse; margin-bottom: 0.8em; font-size: 0.9em; }
table.legend th { text-align: left; font-weight: 600; padding: 0.1em 1em 0.1em 0; color: #444; }
table.legend td { padding: 0.1em 0; }
.scale { display: flex; align-items: center; gap: 0.4em; margin-bottom: 1.2em; font-size: 0.85em; }
.scale .bar { display: flex; }
.scale .bar span { width: 1.3em; height: 1.1em; }
.row { margin-bottom: 1.5em; }
.row-label { font-size: 0.9em; font-weight: 600; color: #444; border-top: 1px solid #ddd; padding-top: 0.3em;
  margin-bottom: 0.3em; }
"""


def _char_html(c):
    """The escaped inside of one character's element: the character itself, or its faint glyph."""
    if c in GLYPHS:
        return f'<span class="ws">{GLYPHS[c]}</span>'
    return html.escape(c, quote=True)


def render_text(text, levels=None, top5=None, offset=0, titles=None, scale="v"):
    """One `.ch` span per character of `text`, data-i = offset + index.

    levels: N_LEVELS-level colour per character (None: class "ch" only, for the app to colour later), as
    classes scale + level: "v" the activation scale, "d" the Δloss scale (viz/colors.py).
    top5: (chars, probs) as from Recording.top5: five guess rows under every character, shaded by probability.
    titles: optional hover text per character (the export's no-JS tooltip).
    """
    n = len(text)
    for name, seq in (("levels", levels), ("titles", titles), ("top5", None if top5 is None else top5[0])):
        if seq is not None and len(seq) != n:
            raise ValueError(f"{name} has {len(seq)} entries for {n} characters")
    inner = {c: _char_html(c) for c in set(text)}
    if levels is None:
        heads = ['<span class="ch" data-i="'] * n
    else:
        levels = np.asarray(levels)
        if n and (levels.min() < 0 or levels.max() >= N_LEVELS):
            raise ValueError(f"levels must lie in [0, {N_LEVELS - 1}]")
        head = [f'<span class="ch {scale}{k}" data-i="' for k in range(N_LEVELS)]
        heads = [head[k] for k in levels.tolist()]
    attrs = ['">'] * n if titles is None else [f'" title="{html.escape(str(t), quote=True)}">' for t in titles]

    out = []
    if top5 is None:
        for i, c in enumerate(text):
            out.append(f"{heads[i]}{offset + i}{attrs[i]}{inner[c]}</span>")
            if c == "\n":
                out.append("<br>")
        return "".join(out)

    chars, probs = top5
    shades = np.clip(np.rint(np.nan_to_num(np.asarray(probs, dtype=np.float32)) * (N_SHADES - 1)), 0, N_SHADES - 1)
    shades = shades.astype(np.int64).tolist()
    unique = {g for row in chars for g in row}
    guess = {g: [f'<span class="g p{k}">{_char_html(g)}</span>' for k in range(N_SHADES)] for g in unique}
    for i, c in enumerate(text):
        (g0, g1, g2, g3, g4), (s0, s1, s2, s3, s4) = chars[i], shades[i]
        out.append(f'<span class="col">{heads[i]}{offset + i}{attrs[i]}{inner[c]}</span>'
                   f"{guess[g0][s0]}{guess[g1][s1]}{guess[g2][s2]}{guess[g3][s3]}{guess[g4][s4]}</span>")
        if c == "\n":
            out.append("<br>")
    return "".join(out)


def scale_bar(prefix, lo, hi, note, reverse=False):
    """A colour scale drawn for a page without script: its N_LEVELS swatches (classes prefix + level, from the
    last level to the first if reverse) between the labels of its two ends, then a note on how to read it."""
    esc = html.escape
    swatches = "".join(f'<span class="{prefix}{k}"></span>'
                       for k in (range(N_LEVELS - 1, -1, -1) if reverse else range(N_LEVELS)))
    return (f'<div class="scale"><span>{esc(lo)}</span><span class="bar">{swatches}</span><span>{esc(hi)}</span>'
            f"<span>({esc(note)})</span></div>")


def render_page(title, legend, body_html):
    """A complete standalone HTML document: inline CSS, no script, no external resource.

    legend: {label: value} shown as a table (None values are left out); body_html: what follows it (a
    scale_bar, then the text).
    """
    esc = html.escape
    rows = "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(str(v))}</td></tr>" for k, v in legend.items() if v is not None)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>\n{_PAGE_CSS}{TEXT_CSS}</style>\n</head>\n<body>\n"
        f'<h1>{esc(title)}</h1>\n<table class="legend">{rows}</table>\n{body_html}\n</body>\n</html>\n'
    )
