"""What a text view (Browse, Compare, any later one) sends beside its spans: the stretches of a concept to
underline, and what the hover box shows. The browser side of both is assets/cellscope.js."""
import functools

import numpy as np

from viz import concepts
from viz.app.common import b64
from viz.text_html import GLYPHS


@functools.lru_cache(maxsize=8)
def _inside(text, concept):
    return np.asarray(concepts.concept_values(concept, text)) > 0


def concept_marks(text, concept, start, stop):
    """[[a, b), ...] counted from start: the stretches of text[start:stop] inside a yes/no concept. The concept
    is found in the whole text (whether a window opens inside quotes depends on what came before it); a
    continuous concept (line position...) or None has nothing to underline."""
    if concept not in concepts.CONCEPTS or concepts.CONCEPTS[concept].kind != "binary":
        return []
    edges = np.diff(np.concatenate([[0], _inside(text, concept)[start:stop].astype(np.int8), [0]]))
    return np.stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)], axis=1).tolist()


def hover_data(chars, probs, loss):
    """The hover box's data for a window, from Recording.top5 and .loss: the five guesses of each position as
    one string of glyphs, their probabilities in whole percent (base64 uint8, rounded as the export's f"{p:.0%}"
    rounds, so both show the same number) and the loss (base64 float32)."""
    return {"guesses": ["".join(GLYPHS.get(g, g) for g in row) for row in chars],
            "percent": b64(np.rint(np.nan_to_num(np.asarray(probs, dtype=np.float64)) * 100).astype(np.uint8)),
            "loss": b64(np.asarray(loss, dtype="<f4"))}
