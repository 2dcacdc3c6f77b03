"""The text coloured by the model's loss instead of by a cell: each character's own loss under the LSTM ("loss"),
or its advantage over the n-gram baseline that `python -m viz.ngram` writes beside a recording ("advantage").
Browse and its export colour through here, so the page and the exported file show the same levels."""
import numpy as np

from model.errors import CellscopeError
from viz.colors import DELTA_RANGE, LOSS_RANGE, delta_levels, loss_levels

NGRAM_LOSS = "ngram_loss"  # written beside a recording by python -m viz.ngram

# colour: (its scale's class prefix, what it shows, the labels of the scale's two ends, what the ends mean,
# whether its swatches run from the last level to the first)
SCALES = {
    "loss": ("l", "LSTM loss of each character, −log p(char | the text before it), nats",
             ("0", f"≥ {LOSS_RANGE:g}"), ("predicted well", "surprised"), False),
    "advantage": ("d", "advantage of each character, n-gram loss − LSTM loss, nats",
                  (f"−{DELTA_RANGE:g}", f"+{DELTA_RANGE:g}"), ("the n-gram predicted it better", "the LSTM did"),
                  True),
}


def has_ngram(rec):
    return (rec.path / f"{NGRAM_LOSS}.npy").is_file()


def ngram_hint(run_dir, rec):
    return f"python -m viz.ngram {run_dir} --checkpoint {rec.checkpoint} makes it"


def char_losses(rec, start, stop):
    """(LSTM, n-gram or None) loss of each character of [start, stop) in nats. The recording's position t holds
    the loss of predicting character t + 1, so character t's is at t - 1 (the text's first character has none:
    NaN)."""
    first = max(start - 1, 0)
    pad = np.full(first - start + 1, np.nan, np.float32)
    ngram = rec.beside(NGRAM_LOSS, first, stop - 1)
    return (np.concatenate([pad, rec.loss(first, stop - 1)]),
            None if ngram is None else np.concatenate([pad, ngram]))


def levels(rec, colour, losses, run_dir):
    """The level of each character on SCALES[colour], from its char_losses; a CellscopeError for advantage
    where the n-gram's loss is not beside the recording."""
    lstm, ngram = losses
    if colour == "loss":
        return loss_levels(lstm)
    if ngram is None:
        raise CellscopeError(f"{rec.checkpoint} has no n-gram loss beside it: {ngram_hint(run_dir, rec)}")
    # lstm - ngram on the Δloss scale: purple where the LSTM did better, as Intervene shows a change that helped
    return delta_levels(lstm - ngram)
