"""Browse coloured by the model's loss and by its advantage over the n-gram (ngram_loss.npy beside a recording),
in real headless Chromium: the level of each character, the way back to the cell, the hover box, and the hint
where the n-gram's loss is missing.

Synthetic recordings over real text, with the n-gram's loss planted: position t holds the loss of predicting
character t + 1, so character t is coloured by the losses at t - 1.
"""
import numpy as np
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.support.ui import WebDriverWait

from conftest import real_text, served, synthetic_recording
from test_app_browse import choose, visit, wait_painted
from viz.colors import ZERO_LEVEL, delta_levels, display_values, loss_levels, quantize, value_range

TEXT = real_text("war_and_peace.txt")[:3000]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """ng: iter-000100 with an n-gram loss beside it, iter-000050 without; plain: no n-gram loss at all."""
    root = tmp_path_factory.mktemp("browse-ngram")
    rec = synthetic_recording(root / "ng" / "recordings" / "iter-000100", TEXT, seed=1)
    ngram = np.random.default_rng(2).uniform(0, 4, rec.n_chars).astype(np.float32)
    ngram[-1] = np.nan  # as viz.ngram stores it: the last position has no next character
    np.save(rec.path / "ngram_loss.npy", ngram)
    synthetic_recording(root / "ng" / "recordings" / "iter-000050", TEXT, seed=3)
    synthetic_recording(root / "plain" / "recordings" / "iter-000100", TEXT, seed=4)
    return {"ng": root / "ng", "plain": root / "plain", "rec": rec, "ngram": ngram}


@pytest.fixture(scope="module")
def duo(runs):
    from viz.app import create_app

    with served(create_app([runs["ng"], runs["plain"]])) as duo:
        yield duo


def shown(duo, prefix):
    """Each span's level on the scale whose classes start with prefix (None where it has none)."""
    return duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#b-text .ch'),"
        "                  e => { const m = new RegExp('\\\\b' + arguments[0] + '(\\\\d+)\\\\b').exec(e.className);"
        "                         return m ? Number(m[1]) : null; })", prefix)


def wait_key(duo, key):
    """Wait until the text shows exactly this key (a cell's is the start of its loss colourings' keys)."""
    WebDriverWait(duo.driver, 10).until(lambda d: d.execute_script(
        "return document.getElementById('b-text').dataset.painted") == key)


def own(values):
    """Per character: the value at the position before it (the first character has none)."""
    return np.concatenate([[np.nan], values[:-1]])


def test_advantage_colours_each_character_by_its_own_loss_difference(duo, runs):
    visit(duo, "?run=ng&colour=advantage")
    wait_painted(duo, "|advantage")
    rec, ngram = runs["rec"], runs["ngram"]
    lstm = rec.loss()
    expected = delta_levels(own(lstm) - own(ngram)).tolist()
    levels = shown(duo, "d")
    assert levels == expected
    for pos in (0, 1, 500, 2999):  # a few by hand: purple (low levels) where the LSTM did better
        advantage = ngram[pos - 1] - lstm[pos - 1] if pos else np.nan
        assert levels[pos] == (ZERO_LEVEL if pos == 0 else delta_levels([-advantage])[0])
    assert "n-gram loss − LSTM loss" in duo.find_element("#b-label").text
    assert "colour=advantage" in duo.driver.current_url

    choose(duo, "#b-colour", "cell")  # back to the cell: its colours, on the activation scale
    wait_key(duo, "iter-000100|0|0|c|0|3000")
    cell = quantize(display_values(rec.series(0, 0, "c"), "c"), *value_range("c")).tolist()
    assert shown(duo, "v") == cell and shown(duo, "d") == [None] * rec.n_chars
    assert duo.find_element("#b-label").text == "layer 0 · cell 0 · tanh(c)"
    assert "colour=" not in duo.driver.current_url
    assert duo.get_logs() == []


def test_loss_colours_on_its_own_scale_and_the_hover_box_shows_both_losses(duo, runs):
    visit(duo, "?run=ng&layer=1&cell=2")
    choose(duo, "#b-colour", "loss")
    wait_painted(duo, "|loss")
    rec, ngram, pos = runs["rec"], runs["ngram"], 700
    assert shown(duo, "l") == loss_levels(own(rec.loss())).tolist()
    assert "colour=loss" in duo.driver.current_url
    lstm = rec.loss(pos - 1, pos)[0]
    head = (f"#{pos}  this char: LSTM loss {lstm:.2f}, n-gram {ngram[pos - 1]:.2f}, "
            f"advantage {ngram[pos - 1] - lstm:+.2f}")
    ActionChains(duo.driver).move_to_element(duo.find_element(f'#b-text .ch[data-i="{pos}"]')).perform()
    WebDriverWait(duo.driver, 10).until(lambda d: d.execute_script(
        "const head = document.querySelector('#cs-tip .tip-head'); return head && head.textContent") == head)
    assert duo.get_logs() == []


def test_without_the_ngram_loss_advantage_is_not_offered_and_a_hint_says_how(duo, runs):
    visit(duo, "?run=plain&colour=advantage")  # a shared link to a recording without it: the cell, and the hint
    wait_key(duo, "iter-000100|0|0|c|0|3000")
    hint = duo.find_element("#b-colour-hint").text
    assert hint == f"advantage: python -m viz.ngram {runs['plain']} --checkpoint iter-000100 makes it"
    assert duo.find_element('#b-colour input[value="advantage"]').get_attribute("disabled")
    assert not duo.find_elements(".msg.error")

    visit(duo, "?run=ng&colour=advantage")  # another checkpoint without it: back to the cell
    wait_painted(duo, "|advantage")
    assert not duo.find_element("#b-colour-hint").text
    choose(duo, "#b-checkpoint", "iter-000050")
    wait_key(duo, "iter-000050|0|0|c|0|3000")
    assert "--checkpoint iter-000050" in duo.find_element("#b-colour-hint").text
    assert not duo.find_elements(".msg.error")
    assert duo.get_logs() == []
