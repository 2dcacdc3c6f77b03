"""Cell matching across runs: a shuffled copy of a recording must be un-shuffled exactly."""
import numpy as np
import pytest

from conftest import real_text
from model.recording import Recording, RecordingWriter
from viz.matching import correlations, match_cells

LAYERS, CELLS, N = 3, 16, 3000


@pytest.fixture(scope="module")
def text():
    return real_text("war_and_peace.txt")[20_000:20_000 + N]


def structured_states(text, seed=0):
    """[layers*cells, n] activations mixing real features of the text (inside quotes, line position, spaces)
    with a random walk and noise, so cells are correlated with each other, as real cells are."""
    rng = np.random.default_rng(seed)
    chars = np.array(list(text))
    in_quotes = (np.cumsum(chars == '"') % 2).astype(np.float32)
    newline = np.flatnonzero(chars == "\n")
    line_pos = np.arange(len(text)) - np.concatenate([[0], newline + 1])[np.searchsorted(newline, np.arange(len(text)))]
    walk = np.cumsum(rng.normal(size=len(text))) / 30
    features = np.stack([in_quotes, line_pos / 70, chars == " ", walk]).astype(np.float32)
    mix = rng.normal(size=(LAYERS * CELLS, len(features)))
    return np.tanh(mix @ features + 0.3 * rng.normal(size=(LAYERS * CELLS, len(text))))


def write(path, text, states, kinds=("c", "h")):
    w = RecordingWriter(path, text, sorted(set(text)), LAYERS, CELLS, kinds,
                        meta={"checkpoint": "iter-000100", "iteration": 100})
    for k, kind in enumerate(kinds):
        w.states[kind][...] = (states / (k + 1)).reshape(LAYERS, CELLS, -1)
    w.finish()
    return Recording.open(path)


def test_permuted_copy_is_found_exactly(tmp_path, text):
    states = structured_states(text)
    perm = np.random.default_rng(1).permutation(LAYERS * CELLS)  # B's cell j is A's cell perm[j]: across layers
    rec_a = write(tmp_path / "a", text, states)
    rec_b = write(tmp_path / "b", text, states[perm])
    for kind in ("c", "h"):
        m = match_cells(rec_a, rec_b, kind=kind, chunk=700)  # chunk < N: the chunked sums are exercised
        assert len(m) == LAYERS * CELLS
        np.testing.assert_allclose(m["corr"], 1.0, atol=1e-5)
        found = m["layer_b"].to_numpy() * CELLS + m["cell_b"].to_numpy()
        np.testing.assert_array_equal(perm[found], np.arange(LAYERS * CELLS))
        np.testing.assert_array_equal(m["layer_a"] * CELLS + m["cell_a"], np.arange(LAYERS * CELLS))
    assert np.any(perm // CELLS != np.arange(LAYERS * CELLS) // CELLS)  # some cells did change layer


def test_sign_flipped_cell_matches_with_minus_one(tmp_path, text):
    states = structured_states(text)
    flipped = states.copy()
    flipped[2 * CELLS + 5] *= -1
    rec_a = write(tmp_path / "a", text, states)
    rec_b = write(tmp_path / "b", text, flipped)
    m = match_cells(rec_a, rec_b, cells=[(2, 5), (0, 3)])
    assert m[["layer_a", "cell_a", "layer_b", "cell_b"]].values.tolist() == [[2, 5, 2, 5], [0, 3, 0, 3]]
    np.testing.assert_allclose(m["corr"], [-1.0, 1.0], atol=1e-5)


def test_matches_numpy_corrcoef_and_constant_cells_give_zero(tmp_path, text):
    a = structured_states(text, seed=2)
    b = structured_states(text, seed=3)
    b[7] = 0.25
    r = correlations(a, b, chunk=512)
    varying = np.arange(len(b)) != 7
    want = np.corrcoef(a, b[varying])[:len(a), len(a):]
    np.testing.assert_allclose(r[:, varying], want, atol=1e-5)
    assert np.all(r[:, 7] == 0)


def test_different_text_raises(tmp_path, text):
    states = structured_states(text)
    other = real_text("war_and_peace.txt")[90_000:90_000 + N]
    rec_a = write(tmp_path / "a", text, states)
    rec_b = write(tmp_path / "b", other, states)
    with pytest.raises(ValueError, match="different text"):
        match_cells(rec_a, rec_b)
