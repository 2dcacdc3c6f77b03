"""Value -> colour: one diverging scale for activations, one for a change in loss, one sequential scale for a
loss, one light ramp for guess probabilities.

Activations (and changes in loss) are quantized to N_LEVELS so a whole text can be coloured with N_LEVELS CSS
classes and a cell switch only needs to send one small integer per character.
"""
import numpy as np

from model.recording import SIGMOID_GATES

N_LEVELS = 21
ZERO_LEVEL = N_LEVELS // 2

# Blue = low, near-white = 0, green = high, as in Karpathy's 2015 figures. The blue side runs through
# ColorBrewer BuPu/PuBu blues, the green side through YlGn: the violet tint of the blues and the yellow tint
# of the greens keep the two sides apart for all three kinds of colour blindness (tests/test_colors.py
# simulates them), and luminance falls monotonically away from zero on each side, so it also reads in grey.
LEVEL_COLORS = [
    "#081d58", "#192b7c", "#2c3f9b", "#4360ae", "#647cbc", "#8c96c6", "#a9add3", "#c2c3df", "#d4d4e8", "#e6e6f0",
    "#f7f7f7",
    "#e8f3cd", "#d9f0a3", "#c3e698", "#addd8e", "#93d284", "#78c679", "#54b466", "#31a354", "#188546", "#006837",
]

# A change in loss (after - before, in nats) has its own diverging scale, so it is never read as an activation:
# purple = the model did better, near-white = no change, orange = worse. ColorBrewer PuOr, the 11 classes
# interpolated to N_LEVELS (one purple lightened to keep black text legible): safe for the three kinds of colour
# blindness, and luminance falls away from zero on each side as on the activation scale.
DELTA_COLORS = [
    "#2d004b", "#40146a", "#542788", "#6a4d9a", "#8276ae", "#998fbf", "#b2abd2", "#c5c2de", "#d8daeb", "#e8e8f1",
    "#f7f7f7",
    "#fbecd6", "#fee0b6", "#fecc8c", "#fdb863", "#ee9d3c", "#e08214", "#ca6d0d", "#b35806", "#994a07", "#7f3b08",
]
DELTA_RANGE = 2.0  # nats either way span the Δloss scale; larger changes clip to its ends

# A loss (nats) is never negative, so it has a sequential scale: near-white = predicted well, dark red = surprised.
# ColorBrewer Reds, the 9 classes interpolated to N_LEVELS (one red lightened to keep black text legible): one
# hue read by lightness alone, and apart from both diverging scales.
LOSS_COLORS = [
    "#fff5f0", "#ffede4", "#fee4d8", "#fed9c8", "#fdcab5", "#fcbba1", "#fcab8e", "#fc9a7b", "#fc8a6a", "#fb7a5a",
    "#fb6a4a", "#f6573e", "#f14432", "#ea382c", "#d92623", "#cb181d", "#bc141a", "#ad1117", "#990c13", "#800610",
    "#67000d",
]
LOSS_RANGE = 5.0  # nats from 0 span the loss scale (uniform guessing over 100 characters is 4.6); more clips

GUESS_RGB = (227, 74, 51)  # the 2015 figure shaded guesses red; a single-hue ramp reads by lightness alone


def value_range(kind):
    """The (lo, hi) that spans the whole scale: states live in [-1, 1] (c as tanh(c)), sigmoid gates in [0, 1],
    a GRU's candidate n (a tanh) in [-1, 1]."""
    return (0.0, 1.0) if kind in SIGMOID_GATES else (-1.0, 1.0)


KIND_LABELS = {"c": "tanh(c)", "h": "h", "i": "input gate", "f": "forget gate", "o": "output gate",  # as shown
               "r": "reset gate", "z": "update gate", "n": "candidate"}


def display_values(values, kind):
    """What the views show: the cell state c is unbounded, so it is squashed with tanh like h is."""
    values = np.asarray(values, dtype=np.float32)
    return np.tanh(values) if kind == "c" else values


def quantize(values, lo=-1.0, hi=1.0):
    """Equal-width bins over [lo, hi] (out-of-range values clip to the end bins); NaN -> the middle level."""
    x = (np.asarray(values, dtype=np.float32) - lo) / (hi - lo)
    x = np.clip(np.nan_to_num(x, nan=0.5), 0.0, 1.0)
    return np.minimum(np.floor(x * N_LEVELS), N_LEVELS - 1).astype(np.uint8)


def delta_levels(delta):
    """The Δloss scale's level of each change in loss (NaN, where there is no next character: the middle)."""
    return quantize(delta, -DELTA_RANGE, DELTA_RANGE)


def loss_levels(loss):
    """The loss scale's level of each loss (NaN, where there is none: the lowest, as if predicted well)."""
    return quantize(np.nan_to_num(np.asarray(loss, np.float32), nan=0.0), 0.0, LOSS_RANGE)


def _luminance(hex_color):
    c = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(c @ [0.2126, 0.7152, 0.0722])


def level_css():
    """One rule per level of each scale, `.v0 { ... }` for activations, `.d0 { ... }` for Δloss and `.l0 { ... }`
    for loss; the darkest levels get white text so the letter stays legible."""
    rules = []
    for prefix, colors in (("v", LEVEL_COLORS), ("d", DELTA_COLORS), ("l", LOSS_COLORS)):
        for level, color in enumerate(colors):
            ink = "; color: #fff" if _luminance(color) < 0.18 else ""
            rules.append(f".{prefix}{level} {{ background: {color}{ink} }}")
    return "\n".join(rules) + "\n"


def prob_shade(p):
    """Background for a guess with probability p: transparent at 0, a mid red-orange at 1 (black text stays
    at a contrast ratio of 6.8:1 or more)."""
    alpha = 0.8 * float(np.clip(np.nan_to_num(p), 0.0, 1.0))
    r, g, b = GUESS_RGB
    return f"rgba({r}, {g}, {b}, {alpha:.2f})"
