"""The Intervene view in real headless Chromium: the window coloured by the change in loss, recoloured in place
when the value changes, the URL state, the samples with and without the change, the "which cells matter"
ranking and its links to Browse, bad input; and, without a browser, the export's escaping and the Δloss scale.

One app serves the runs these tests need (the real tiny run, a run with no recordings, a recording over hostile
text with no checkpoint beside it) and one browser visits it; the expected colours come from model.intervene.
"""
import html
import re
from pathlib import Path

import numpy as np
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from conftest import HOSTILE, served
from model.checkpoint import load_model
from model.intervene import Change, cells_that_matter, intervene
from model.recording import Recording
from test_app_browse import hostile_recording
from test_colors import DICHROMACY, lab, luminance, rgb, seen_by
from viz.colors import DELTA_COLORS, LEVEL_COLORS, N_LEVELS, ZERO_LEVEL, delta_levels, level_css
from viz.concepts import concept_values
from viz.intervention_html import intervention_page
from viz.text_html import GLYPHS

UNGLYPH = {glyph: c for c, glyph in GLYPHS.items()}
WAIT = 30  # seconds: an intervention takes well under one, but the test machine is shared


@pytest.fixture(scope="module")
def runs(tiny_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("intervene")
    (root / "empty").mkdir()
    text = hostile_recording(root / "hostile" / "recordings" / "iter-000100")
    return {"tiny": tiny_run, "empty": root / "empty", "hostile": root / "hostile", "hostile_text": text}


@pytest.fixture(scope="module")
def duo(runs, tmp_path_factory):
    from viz.app import create_app

    with served(create_app([runs["tiny"], runs["empty"], runs["hostile"]]), tmp_path_factory.mktemp("download")) as duo:
        yield duo


@pytest.fixture(scope="module")
def tiny(runs):
    """(model, recording) of the tiny run's newest checkpoint, which the page opens by default."""
    rec = Recording.open(sorted((runs["tiny"] / "recordings").iterdir())[-1])
    return load_model(runs["tiny"], rec.checkpoint)[0], rec


def visit(duo, query, painted=""):
    """Open /intervene with this query and wait until the window shows an intervention whose key has `painted`
    (None: do not wait)."""
    duo.wait_for_page(f"{duo.server.url}/intervene{query}")
    if painted is not None:
        wait_painted(duo, painted)


def wait_painted(duo, contains=""):
    def painted(driver):
        key = driver.execute_script("const box = document.getElementById('iv-text'); return box && box.dataset.painted")
        return key and contains in key
    WebDriverWait(duo.driver, WAIT).until(painted)


def shown(duo):
    """(Δloss level, underlined?) of every character in the window, from the spans' classes."""
    classes = duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#iv-text .ch'), e => e.className)")
    assert all(re.fullmatch(r"ch( u)?( at)? d\d+", c) for c in classes), classes[:5]
    return [int(re.search(r"\bd(\d+)\b", c)[1]) for c in classes], [" u" in c for c in classes]


def expected(tiny, changes, start, stop, active=None):
    model, rec = tiny
    return delta_levels(intervene(model, rec, changes, start, stop, active).delta).tolist()


def test_ablating_a_cell_colours_the_window_by_the_change_in_loss(duo, tiny):
    visit(duo, "?run=tiny&layer=1&cell=5&op=clamp&value=0.5&start=1000&size=1000", "clamp to 0.5")
    duo.find_element("#iv-op input[value='zero']").click()
    wait_painted(duo, "ablate (c := 0)")
    levels, underlined = shown(duo)
    assert levels == expected(tiny, [Change(1, 5, "zero")], 1000, 2000)
    assert not any(underlined)  # the whole window was changed: nothing singled out
    assert "the whole window:" in duo.find_element("#iv-means").text
    WebDriverWait(duo.driver, WAIT).until(lambda d: "ablate" in d.find_element("css selector", "#iv-samples").text)
    before, after = duo.find_element("#iv-sample-before").text, duo.find_element("#iv-sample-after").text
    assert before and after
    verdict = duo.find_element("#iv-sample-pair .where").text
    assert before != after and "then part" in verdict or before == after and "both are the same" in verdict
    assert "op=zero" in duo.driver.current_url and "value=" not in duo.driver.current_url
    assert duo.get_logs() == []


def test_hover_shows_the_loss_and_guesses_before_and_after(duo, tiny):
    model, rec = tiny
    visit(duo, "?run=tiny&layer=1&cell=5&op=clamp&value=0.5&start=1000&size=1000", "clamp to 0.5")
    out = intervene(model, rec, [Change(1, 5, "clamp", 0.5)], 1000, 2000)
    pos = 1040
    ActionChains(duo.driver).move_to_element(duo.find_element(f'#iv-text .ch[data-i="{pos}"]')).perform()
    WebDriverWait(duo.driver, 10).until(lambda d: d.find_element("css selector", "#iv-at").text.startswith(f"#{pos}"))
    lines = duo.find_element("#iv-at").text.split("\n")
    i = pos - 1000
    lb, la = out.loss_before[i], out.loss_after[i]
    assert lines[1] == f"loss {lb:.2f} → {la:.2f} nats (Δ {'+' if la >= lb else ''}{la - lb:.2f})"
    chars, probs = rec.top5(pos, pos + 1)
    first_before = f"{GLYPHS.get(chars[0][0], chars[0][0])} {round(float(probs[0][0]) * 100)}%"
    guess = rec.vocab[out.top5_ids_after[i][0]]
    first_after = f"{GLYPHS.get(guess, guess)} {round(float(out.top5_p_after[i][0]) * 100)}%"
    assert re.sub(r"\s+", " ", lines[3]) == f"{first_before} {first_after}"  # before and after, side by side


def test_a_new_value_recolours_the_window_without_reloading_the_page(duo, tiny):
    visit(duo, "?run=tiny&layer=1&cell=5&op=clamp&value=0.5&start=1000&size=1000", "clamp to 0.5")
    first, _ = shown(duo)
    duo.driver.execute_script("window.__ivKept = 'kept'; document.getElementById('iv-text').__kept = 1")
    box = duo.find_element("#iv-value input")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("15", Keys.TAB)  # the slider's own input box takes a typed value when it loses focus
    wait_painted(duo, "clamp to 15")
    levels, _ = shown(duo)
    assert levels == expected(tiny, [Change(1, 5, "clamp", 15.0)], 1000, 2000) and levels != first
    # the same page and the same spans: only their classes changed
    assert duo.driver.execute_script("return window.__ivKept + document.getElementById('iv-text').__kept") == "kept1"
    assert "value=15" in duo.driver.current_url
    assert duo.get_logs() == []


def test_the_url_carries_the_intervention_and_a_concept_limits_it(duo, tiny):
    rec = tiny[1]
    query = ("?run=tiny&layer=0&cell=3&layer2=1&cell2=5&op=scale&value=-1&where=concept&concept=quotes"
             "&start=200&size=1000")
    visit(duo, query, "cell 0:3 and 1:5: scale by -1, where quotes")
    active = concept_values("quotes", rec.text)[200:1200]
    changes = [Change(0, 3, "scale", -1.0), Change(1, 5, "scale", -1.0)]
    levels, underlined = shown(duo)
    assert levels == expected(tiny, changes, 200, 1200, active)
    assert underlined == active.tolist() and any(underlined)
    means = duo.find_element("#iv-means").text
    assert f"the {active.sum():,} positions changed" in means and f"the {(~active).sum():,} elsewhere" in means
    shared = duo.driver.current_url
    for part in ("layer=0", "cell=3", "layer2=1", "cell2=5", "op=scale", "value=-1", "where=concept",
                 "concept=quotes", "start=200", "size=1000"):
        assert part in shared
    visit(duo, shared[len(duo.server.url) + len("/intervene"):], "cell 0:3 and 1:5: scale by -1, where quotes")
    assert shown(duo)[0] == levels
    assert duo.get_logs() == []


def test_a_clicked_character_ranks_the_cells_that_matter_and_links_to_browse(duo, tiny):
    model, rec = tiny
    visit(duo, "?run=tiny&layer=1&cell=5&start=500&size=1000")
    duo.find_element('#iv-text .ch[data-i="700"]').click()
    duo.wait_for_element("#iv-matter-table tbody tr", timeout=WAIT)
    assert "Position 700" in duo.find_element("#iv-matter").text
    rows = duo.find_elements("#iv-matter-table tbody tr")
    best = next(cells_that_matter(model, rec, 700).itertuples())
    assert len(rows) == 20
    link = rows[0].find_element("css selector", "a")
    assert link.text == f"{best.layer}:{best.cell}"
    assert link.get_attribute("href").endswith(
        f"/?run=tiny&checkpoint={rec.checkpoint}&layer={best.layer}&cell={best.cell}&start=500")
    assert 'class="ch at' in duo.find_element('#iv-text .ch[data-i="700"]').get_attribute("outerHTML")
    assert "pos=700" in duo.driver.current_url
    link.click()
    WebDriverWait(duo.driver, WAIT).until(lambda d: d.find_elements("css selector", "#b-cell"))
    assert duo.find_element("#b-cell").get_attribute("value") == str(best.cell)


def test_browse_opens_its_cell_and_window_here(duo):
    duo.wait_for_page(f"{duo.server.url}/?run=tiny&layer=1&cell=7&start=500&size=1000")
    WebDriverWait(duo.driver, WAIT).until(lambda d: "start=500" in d.current_url)  # Browse has synced its URL
    duo.driver.find_element("link text", "Intervene on this cell →").click()
    wait_painted(duo, "tiny|")
    assert duo.driver.execute_script("return document.querySelector('#iv-text .ch').dataset.i") == "500"
    assert duo.find_element("#iv-cell").get_attribute("value") == "7"
    assert "/intervene?" in duo.driver.current_url and "layer=1" in duo.driver.current_url
    duo.wait_for_element("#iv-sample-pair", timeout=WAIT)  # nothing left running when the server stops


def test_export_writes_the_recoloured_window(duo, tiny):
    visit(duo, "?run=tiny&layer=1&cell=5&op=clamp&value=0.5&start=1000&size=500", "clamp to 0.5")
    duo.find_element("#iv-export").click()
    path = Path(duo.download_path)
    WebDriverWait(duo.driver, WAIT).until(lambda d: list(path.glob("*intervene*.html")))
    page = next(path.glob("*intervene*.html")).read_text(encoding="utf-8")
    spans = re.findall(r'<span class="ch d(\d+)" data-i="(\d+)" title="([^"]*)"', page)
    assert [int(i) for _, i, _ in spans] == list(range(1000, 1500))
    assert [int(v) for v, _, _ in spans] == expected(tiny, [Change(1, 5, "clamp", 0.5)], 1000, 1500)
    title = html.unescape(spans[0][2]).split("\n")
    assert title[0].startswith("#1000  loss ") and title[1].startswith("before: ") and title[2].startswith("after:  ")
    assert "<script" not in page


@pytest.mark.parametrize("query, message", [
    ("?run=tiny&cell=999", "cell=999 is out of range"),
    ("?run=tiny&layer=7", "layer=7 is out of range"),
    ("?run=tiny&op=clamp&value=abc", "value='abc' is not a number"),
    ("?run=tiny&start=999999", "start=999999 is out of range"),
    ("?run=tiny&pos=3000", "pos=3000 is out of range"),
    ("?run=tiny&op=explode", "op='explode' is not a change"),
    ("?run=tiny&where=somewhere", "where='somewhere' is not one of"),
    ("?run=tiny&where=concept&concept=nope", "There is no concept 'nope'"),
])
def test_a_bad_url_parameter_is_explained_and_the_page_still_works(duo, query, message):
    visit(duo, query)
    assert message in duo.find_element(".msg.error").text
    assert shown(duo)[0]


@pytest.mark.parametrize("query, message", [
    ("?run=tiny&where=regex&regex=(", "invalid regular expression '('"),
    ("?run=tiny&where=span&span=5000:6000", "outside the text's 3000 characters"),
    ("?run=tiny&where=span&span=nonsense", "is not A:B"),
    ("?run=tiny&where=regex", "type the regex of the positions to change"),
])
def test_positions_that_cannot_be_changed_are_a_notice(duo, query, message):
    visit(duo, query, None)
    duo.wait_for_contains_text("#iv-change-msg .msg.error", message, timeout=WAIT)
    assert duo.find_elements("#iv-text .ch")  # the text is there, uncoloured
    assert duo.get_logs() == []


def test_runs_without_recordings_or_a_model_say_so(duo, runs):
    visit(duo, "?run=empty", None)
    duo.wait_for_contains_text(".msg.error", f"python -m model.record {runs['empty']}")
    visit(duo, "?run=hostile", None)  # a recording with no checkpoint beside it: its text, and why no change
    duo.wait_for_element("#iv-change-msg .msg.error", timeout=WAIT)
    text = duo.driver.execute_script("return Array.from(document.querySelectorAll('#iv-text .ch'), e => e.textContent)")
    assert "".join(UNGLYPH.get(c, c) for c in text) == runs["hostile_text"]
    assert duo.driver.execute_script("return document.querySelectorAll('#iv-text script, #iv-text img').length") == 0
    assert duo.get_logs() == []


def test_the_export_shows_hostile_text_and_guesses_as_text():
    n = len(HOSTILE)
    rng = np.random.default_rng(0)
    before = ([["<", ">", "&", '"', "'"]] * n, np.full((n, 5), 0.2, np.float32))
    after = ([["'", '"', "&", ">", "<"]] * n, np.full((n, 5), 0.2, np.float32))
    loss_before, loss_after = rng.uniform(0, 3, n).astype(np.float32), rng.uniform(0, 3, n).astype(np.float32)
    page = intervention_page(HOSTILE, {"change": HOSTILE}, HOSTILE, 0, before, after, loss_before, loss_after)
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    body = page.split('<div class="cs-text">')[1].split("</div>")[0]
    shown_text = html.unescape(re.sub(r"<[^>]+>", "", body))  # the characters, titles left in their tags
    assert "".join(UNGLYPH.get(c, c) for c in shown_text) == HOSTILE
    title = html.unescape(re.search(r'data-i="0" title="([^"]*)"', page)[1]).split("\n")
    lb, la = loss_before[0], loss_after[0]
    assert title == [f"#0  loss {lb:.2f} → {la:.2f} nats (Δ {la - lb:+.2f})",
                     "before: < 20%  > 20%  & 20%  \" 20%  ' 20%", "after:  ' 20%  \" 20%  & 20%  > 20%  < 20%"]
    levels = [int(k) for k in re.findall(r'<span class="ch d(\d+)"', page)]
    assert levels == delta_levels(loss_after - loss_before).tolist()


def test_the_delta_scale_is_its_own_and_reads_for_colour_blind_eyes():
    lum = [luminance(rgb(c)) for c in DELTA_COLORS]
    assert len(DELTA_COLORS) == N_LEVELS and lum[ZERO_LEVEL] > 0.85
    assert all(a < b for a, b in zip(lum[:ZERO_LEVEL], lum[1:ZERO_LEVEL + 1]))
    assert all(a > b for a, b in zip(lum[ZERO_LEVEL:], lum[ZERO_LEVEL + 1:]))
    better, worse = rgb(DELTA_COLORS[0]), rgb(DELTA_COLORS[-1])
    assert better[2] > better[1] and worse[0] > worse[2]  # purple is better, orange worse
    assert not set(DELTA_COLORS[:ZERO_LEVEL] + DELTA_COLORS[ZERO_LEVEL + 1:]) & set(LEVEL_COLORS)
    for matrix in DICHROMACY.values():
        for k in range(3, ZERO_LEVEL + 1):
            a, b = (lab(seen_by(rgb(DELTA_COLORS[ZERO_LEVEL + s * k]), matrix)) for s in (-1, 1))
            assert np.linalg.norm(a - b) > 12
    assert delta_levels([-5.0, 0.0, np.nan, 5.0]).tolist() == [0, ZERO_LEVEL, ZERO_LEVEL, N_LEVELS - 1]
    assert all(f".d{k} {{ background: {c}" in level_css() for k, c in enumerate(DELTA_COLORS))
