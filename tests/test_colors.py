import re

import numpy as np
import pytest

from viz.colors import (LEVEL_COLORS, N_LEVELS, ZERO_LEVEL, display_values, level_css, prob_shade, quantize,
                        value_range)


def rgb(hex_color):
    return np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)]) / 255


def linear(c):
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def luminance(c):
    return float(linear(c) @ [0.2126, 0.7152, 0.0722])


def contrast(a, b):
    la, lb = sorted([luminance(a), luminance(b)])
    return (lb + 0.05) / (la + 0.05)


def lab(c):
    xyz = linear(c) @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz = xyz / [0.95047, 1.0, 1.08883]
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


# Machado, Oliveira & Fernandes (2009), full-severity dichromacy, applied in linear RGB.
DICHROMACY = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}


def seen_by(c, matrix):
    lin = np.clip(np.array(matrix) @ linear(c), 0, 1)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)


def test_levels_are_monotone_and_cover_the_scale():
    levels = quantize(np.linspace(-1.5, 1.5, 1001))
    assert levels.dtype == np.uint8
    assert np.all(np.diff(levels.astype(int)) >= 0)
    assert set(levels.tolist()) == set(range(N_LEVELS))


def test_zero_is_the_middle_level_and_the_scale_is_symmetric():
    assert N_LEVELS == 21 and ZERO_LEVEL == 10
    assert quantize([0.0])[0] == ZERO_LEVEL
    v = np.random.default_rng(0).uniform(-1, 1, 1000)
    assert np.array_equal(quantize(-v), N_LEVELS - 1 - quantize(v))


def test_out_of_range_clips_and_nan_is_neutral():
    assert quantize([-5.0, -np.inf, 5.0, np.inf, np.nan]).tolist() == [0, 0, 20, 20, ZERO_LEVEL]
    assert quantize([np.nan], 0.0, 1.0)[0] == ZERO_LEVEL


def test_gate_range():
    assert value_range("c") == value_range("h") == (-1.0, 1.0)
    for gate in "ifo":
        assert value_range(gate) == (0.0, 1.0)
    assert quantize([0.0, 0.5, 1.0, 1.2, -0.1], *value_range("f")).tolist() == [0, 10, 20, 20, 0]


def test_display_values_squash_only_the_cell_state():
    raw = np.array([-3.0, 0.0, 0.5, 4.0], dtype=np.float32)
    assert np.allclose(display_values(raw, "c"), np.tanh(raw))
    assert np.array_equal(display_values(raw, "h"), raw)
    assert np.array_equal(display_values(raw, "i"), raw)


def test_scale_is_near_white_at_zero_and_darkens_monotonically_on_each_side():
    lum = [luminance(rgb(c)) for c in LEVEL_COLORS]
    assert len(LEVEL_COLORS) == N_LEVELS
    assert lum[ZERO_LEVEL] > 0.85
    assert all(a < b for a, b in zip(lum[:ZERO_LEVEL], lum[1:ZERO_LEVEL + 1]))  # rising towards zero
    assert all(a > b for a, b in zip(lum[ZERO_LEVEL:], lum[ZERO_LEVEL + 1:]))  # falling away from zero
    low, high = rgb(LEVEL_COLORS[0]), rgb(LEVEL_COLORS[-1])
    assert low[2] > low[1] and high[1] > high[2]  # blue is low, green is high


@pytest.mark.parametrize("kind", DICHROMACY)
def test_low_and_high_stay_apart_for_colour_blind_eyes(kind):
    for k in range(3, ZERO_LEVEL + 1):
        low, high = rgb(LEVEL_COLORS[ZERO_LEVEL - k]), rgb(LEVEL_COLORS[ZERO_LEVEL + k])
        distance = np.linalg.norm(lab(seen_by(low, DICHROMACY[kind])) - lab(seen_by(high, DICHROMACY[kind])))
        assert distance > 12, f"level ±{k} differ by only ΔE {distance:.1f} under {kind}"


def test_level_css_has_every_level_with_legible_text():
    css = level_css()
    rules = dict(re.findall(r"\.v(\d+) \{ ([^}]*)\}", css))
    assert sorted(map(int, rules)) == list(range(N_LEVELS))
    for level, body in rules.items():
        assert f"background: {LEVEL_COLORS[int(level)]}" in body
        ink = rgb("#ffffff") if "color: #fff" in body else rgb("#111111")
        assert contrast(ink, rgb(LEVEL_COLORS[int(level)])) >= 4.5, f"level {level} text is hard to read"


def parse_rgba(css):
    r, g, b, a = map(float, re.fullmatch(r"rgba\((.*)\)", css).group(1).split(","))
    return np.array([r, g, b]) / 255, a


def test_prob_shade_grows_with_probability_and_keeps_text_legible():
    alphas = [parse_rgba(prob_shade(p))[1] for p in np.linspace(0, 1, 11)]
    assert alphas[0] == 0 and all(a < b for a, b in zip(alphas, alphas[1:]))
    color, alpha = parse_rgba(prob_shade(1.0))
    over_white = alpha * color + (1 - alpha)
    assert contrast(rgb("#111111"), over_white) >= 4.5
    assert prob_shade(3.0) == prob_shade(1.0) and prob_shade(-1) == prob_shade(np.nan) == prob_shade(0)
