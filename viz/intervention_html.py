"""An intervention over a text window as a standalone HTML page: the text coloured by the change in loss on the
Δloss scale, each character's title holding what the Intervene page shows on hover (the loss before and after,
the five guesses for the next character before and after), so the page needs no script. The Intervene page's
Export button writes it; the inputs are plain arrays, so this module needs no model.
"""
from viz.colors import DELTA_RANGE, delta_levels
from viz.text_html import GLYPHS, render_page, render_text, scale_bar


def _guesses(chars, probs):
    return "  ".join(f"{GLYPHS.get(g, g)} {p:.0%}" for g, p in zip(chars, probs))


def titles(start, before, after, loss_before, loss_after):
    """Hover text per character: position, loss before -> after and the change, the five guesses before and
    after. before, after: (chars, probs) of the top-5 guesses, as Recording.top5 gives them."""
    out = []
    for i, (lb, la) in enumerate(zip(loss_before.tolist(), loss_after.tolist())):
        loss = "no next character" if lb != lb else f"loss {lb:.2f} → {la:.2f} nats (Δ {la - lb:+.2f})"
        out.append(f"#{start + i}  {loss}\nbefore: {_guesses(before[0][i], before[1][i])}"
                   f"\nafter:  {_guesses(after[0][i], after[1][i])}")
    return out


def intervention_page(title, legend, text, start, before, after, loss_before, loss_after):
    """The page as a string: legend {label: value} as render_page takes it, text the window's text."""
    spans = render_text(text, delta_levels(loss_after - loss_before), offset=start,
                        titles=titles(start, before, after, loss_before, loss_after), scale="d")
    bar = scale_bar("d", f"{-DELTA_RANGE:+g} nats (better)", f"{DELTA_RANGE:+g} nats (worse)", "middle = no change")
    return render_page(title, legend, f'{bar}\n<div class="cs-text">{spans}</div>')
