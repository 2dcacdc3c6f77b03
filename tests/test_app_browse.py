"""The Browse view in real headless Chromium: colours, cell flipping, hover, export, URL state, errors, XSS.

One app serves every run these tests need (the real tiny run, a recording over hostile text, a run with no
recordings, a run with a broken recording) and one browser visits it, so the module runs in seconds.
"""
import html
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from conftest import HOSTILE, real_text, served
from model.recording import Recording, RecordingWriter
from viz.colors import display_values, quantize, value_range
from viz.concepts import concept_values
from viz.standalone import export_html
from viz.text_html import GLYPHS

UNGLYPH = {glyph: c for c, glyph in GLYPHS.items()}


def hostile_recording(path):
    """Tolstoy's opening with the hostile string as one extra line; random activations, guesses include '<'."""
    opening = real_text("war_and_peace.txt")[:60_000]
    opening = opening[opening.index('"Well, Prince'):][:1200]
    text = opening + "\n" + HOSTILE + "\n"
    vocab = sorted(set(text))
    rng = np.random.default_rng(1)
    w = RecordingWriter(path, text, vocab, 1, 4, ("c", "h"), {"checkpoint": "iter-000100", "iteration": 100})
    w.states["c"][...] = rng.normal(0, 1, (1, 4, len(text)))
    w.states["h"][...] = rng.uniform(-1, 1, (1, 4, len(text)))
    w.top5_ids[...] = rng.integers(0, len(vocab), (len(text), 5))
    w.top5_ids[:, 0] = vocab.index("<")
    w.top5_p[...] = np.sort(rng.dirichlet(np.ones(5), len(text)), axis=1)[:, ::-1]
    w.loss[...] = rng.uniform(0, 4, len(text))
    w.finish()
    return text


@pytest.fixture(scope="module")
def runs(tiny_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("browse")
    hostile = root / "hostile"
    text = hostile_recording(hostile / "recordings" / "iter-000100")
    (root / "empty").mkdir()
    broken = root / "broken"
    shutil.copytree(tiny_run / "recordings", broken / "recordings")
    newest = sorted((broken / "recordings").iterdir())[-1]
    (newest / "c.npy").unlink()
    return {"tiny": tiny_run, "hostile": hostile, "hostile_text": text, "empty": root / "empty", "broken": broken}


@pytest.fixture(scope="module")
def duo(runs, tmp_path_factory):
    from viz.app import create_app

    with served(create_app([runs["tiny"], runs["hostile"], runs["empty"], runs["broken"]]),
                tmp_path_factory.mktemp("download")) as duo:
        yield duo


def visit(duo, query="", painted=True):
    """Open the page with this query and wait until its text is coloured."""
    duo.reset_log_timestamp()
    duo.wait_for_page(f"{duo.server.url}/{query}")
    if painted:
        wait_painted(duo)


def wait_painted(duo, contains=""):
    """Wait until the text shows a cell whose key ("checkpoint|layer|cell|kind|start|stop") has `contains`."""
    def painted(driver):
        key = driver.execute_script("const box = document.getElementById('b-text'); return box && box.dataset.painted")
        return key and contains in key
    WebDriverWait(duo.driver, 10).until(painted)


def shown_levels(duo):
    return duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#b-text .ch'),"
        "                  e => Number(/\\bv(\\d+)\\b/.exec(e.className)[1]))")


def expected_levels(run, checkpoint, layer, cell, kind, start, stop):
    rec = Recording.open(run / "recordings" / checkpoint)
    return quantize(display_values(rec.series(layer, cell, kind, start, stop), kind), *value_range(kind)).tolist()


def newest(run):
    return sorted(p.name for p in (run / "recordings").iterdir())[-1]


def test_page_shows_the_text_coloured_by_the_cell(duo, runs):
    visit(duo, "?run=tiny")
    rec = Recording.open(runs["tiny"] / "recordings" / newest(runs["tiny"]))
    spans = duo.find_elements("#b-text .ch")
    assert len(spans) == rec.n_chars  # the whole 3,000-char recording fits the default 5,000 window
    assert shown_levels(duo) == expected_levels(runs["tiny"], newest(runs["tiny"]), 0, 0, "c", 0, rec.n_chars)
    text = duo.driver.execute_script("return Array.from(document.querySelectorAll('#b-text .ch'), e => e.textContent)")
    assert "".join(UNGLYPH.get(c, c) for c in text) == rec.text
    assert duo.find_element("#b-label").text == "layer 0 · cell 0 · tanh(c)"
    assert duo.find_element("#b-hist .bars") and len(duo.find_elements("#b-excerpts .ex")) == 10
    assert duo.get_logs() == []


def test_next_button_and_keys_flip_cells(duo, runs):
    visit(duo, "?run=tiny")
    ckpt, rec = newest(runs["tiny"]), Recording.open(runs["tiny"] / "recordings" / newest(runs["tiny"]))
    before = shown_levels(duo)
    duo.find_element("#b-next").click()
    wait_painted(duo, "|0|1|c|")
    assert duo.find_element("#b-cell").get_attribute("value") == "1"
    assert duo.find_element("#b-label").text == "layer 0 · cell 1 · tanh(c)"
    after = shown_levels(duo)
    assert after != before and after == expected_levels(runs["tiny"], ckpt, 0, 1, "c", 0, rec.n_chars)

    body = duo.find_element("body")
    body.send_keys("j")
    wait_painted(duo, "|0|2|c|")
    body.send_keys(Keys.ARROW_RIGHT)
    wait_painted(duo, "|0|3|c|")
    body.send_keys("k")
    wait_painted(duo, "|0|2|c|")
    body.send_keys(Keys.ARROW_LEFT)
    wait_painted(duo, "|0|1|c|")
    assert duo.find_element("#b-cell").get_attribute("value") == "1"
    assert "cell=1" in duo.driver.current_url and "run=tiny" in duo.driver.current_url

    start = duo.find_element("#b-start")  # typing in a field never flips cells
    start.send_keys("j")
    time.sleep(0.3)
    assert duo.find_element("#b-cell").get_attribute("value") == "1"

    duo.find_element("#b-cell").clear()  # the last cell of layer 0 steps on to layer 1, cell 0
    duo.find_element("#b-cell").send_keys(str(rec.cells - 1))
    wait_painted(duo, f"|0|{rec.cells - 1}|c|")
    duo.find_element("#b-next").click()
    wait_painted(duo, "|1|0|c|")
    assert duo.get_logs() == []


def test_url_carries_the_view(duo, runs):
    visit(duo, "?run=tiny&checkpoint=iter-000050&layer=1&cell=5&kind=h&start=100&size=1000")
    assert duo.find_element("#b-label").text == "layer 1 · cell 5 · h"
    assert shown_levels(duo) == expected_levels(runs["tiny"], "iter-000050", 1, 5, "h", 100, 1100)
    assert duo.driver.execute_script("return document.querySelector('#b-text .ch').dataset.i") == "100"
    duo.find_element("#b-page-next").click()
    wait_painted(duo, "|1100|2100")
    assert duo.find_element("#b-start").get_attribute("value") == "1100"
    assert "start=1100" in duo.driver.current_url
    shared = duo.driver.current_url  # the address bar re-opens the same view
    visit(duo, shared[len(duo.server.url) + 1:])
    assert shown_levels(duo) == expected_levels(runs["tiny"], "iter-000050", 1, 5, "h", 1100, 2100)
    assert duo.get_logs() == []


@pytest.mark.parametrize("query, message", [
    ("?run=tiny&cell=999", "cell=999 is out of range"),
    ("?run=tiny&layer=one", "layer='one' is not a whole number"),
    ("?run=tiny&checkpoint=iter-999999", "no recording of checkpoint 'iter-999999'"),
    ("?run=tiny&kind=q", "kind='q' is not recorded"),
    ("?run=..%2F..%2Fetc", "There is no run '../../etc'"),
    ("?run=tiny&concept=nope", "There is no concept 'nope'"),
])
def test_a_bad_url_parameter_is_explained_and_the_page_still_works(duo, query, message):
    visit(duo, query)
    assert message in duo.find_element(".msg.error").text
    assert duo.find_elements("#b-text .ch")


def test_runs_without_a_usable_recording_say_what_to_do(duo, runs):
    visit(duo, "?run=empty", painted=False)
    duo.wait_for_contains_text(".msg.error", f"python -m model.record {runs['empty']}")
    assert duo.get_logs() == []
    visit(duo, "?run=broken", painted=False)
    duo.wait_for_contains_text(".msg.error", "unreadable")
    assert duo.get_logs() == []
    visit(duo, "?run=tiny")  # and the server is still serving
    assert duo.find_elements("#b-text .ch")


def export_title(run, checkpoint, layer, cell, kind, pos):
    """The lines of the exported page's hover text (its title attribute) at one position."""
    page = export_html(run, layer, cell, kind, pos, pos + 1, checkpoints=[checkpoint])
    return html.unescape(re.search(rf'data-i="{pos}" title="([^"]*)"', page).group(1)).split("\n")


def tip_lines(duo):
    """The hover box read as the export's lines: "#position  value", "next: g p%  g p% ...", "loss x nats"."""
    return duo.driver.execute_script("""
        const tip = document.getElementById('cs-tip'), text = s => tip.querySelector(s).textContent;
        const guesses = Array.from(tip.querySelectorAll('.tip-guess'),
                                   row => row.children[0].textContent + ' ' + row.children[2].textContent);
        return [text('.tip-head'), text('.tip-sub') + ' ' + guesses.join('  '), text('.tip-loss')];""")


def hover(duo, selector, head):
    """Point at an element and wait until the hover box's first line is `head` (the exact value comes on hover)."""
    ActionChains(duo.driver).move_to_element(duo.find_element(selector)).perform()
    WebDriverWait(duo.driver, 10).until(lambda d: d.execute_script(
        "const head = document.querySelector('#cs-tip .tip-head'); return head && head.textContent") == head)


def test_hover_shows_what_the_export_title_says(duo, runs):
    visit(duo, "?run=tiny&layer=1&cell=3")
    checkpoint, pos = newest(runs["tiny"]), 200
    lines = export_title(runs["tiny"], checkpoint, 1, 3, "c", pos)
    raw = Recording.open(runs["tiny"] / "recordings" / checkpoint).series(1, 3, "c", pos, pos + 1)[0]
    assert lines[0] == f"#{pos}  tanh(c) {np.tanh(raw):+.3f} (c {raw:+.3f})" and lines[1].startswith("next: ")
    hover(duo, f'#b-text .ch[data-i="{pos}"]', lines[0])
    assert tip_lines(duo) == lines  # position and value, the five guesses for the next character, loss
    ActionChains(duo.driver).move_to_element(duo.find_element("#b-label")).perform()
    WebDriverWait(duo.driver, 5).until(lambda d: not d.find_element(By.ID, "cs-tip").is_displayed())


def test_excerpt_click_opens_its_position(duo, runs):
    visit(duo, "?run=tiny&size=1000")
    duo.wait_for_element("#b-excerpts .ex")
    time.sleep(0.5)  # the excerpts arrive after the paint and may be replaced once; read them in one go
    pos, start = duo.driver.execute_script(
        "const ex = Array.from(document.querySelectorAll('#b-excerpts .ex'));"
        "const far = ex.reduce((a, b) => Number(b.dataset.pos) > Number(a.dataset.pos) ? b : a);"
        "return [Number(far.dataset.pos), Number(far.dataset.start)];")
    assert pos >= 1000  # outside the first window, so the click has to move it
    duo.find_element(f'#b-excerpts .ex[data-pos="{pos}"]').click()
    wait_painted(duo, f"|{start}|")
    focused = duo.find_element("#b-text .at")
    assert focused.get_attribute("data-i") == str(pos)


def test_top5_mode_puts_five_guesses_under_every_character(duo, runs):
    visit(duo, "?run=tiny&size=1000&top5=1")
    rec = Recording.open(runs["tiny"] / "recordings" / newest(runs["tiny"]))
    columns = duo.find_elements("#b-text .col")
    assert len(columns) == 1000
    assert duo.driver.execute_script("return document.querySelectorAll('#b-text .col .g').length") == 5000
    chars, _ = rec.top5(7, 8)
    guesses = [g.text for g in columns[7].find_elements(By.CSS_SELECTOR, ".g")]
    assert guesses == [GLYPHS.get(c, c) for c in chars[0]]
    duo.find_element("#b-next").click()  # recolouring works on the column layout too
    wait_painted(duo, "|0|1|c|")
    assert shown_levels(duo) == expected_levels(runs["tiny"], newest(runs["tiny"]), 0, 1, "c", 0, 1000)


def underlined(duo):
    return duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#b-text .ch'), e => e.classList.contains('u'))")


def test_concept_positions_are_underlined_under_every_cell(duo, runs):
    visit(duo, "?run=tiny&concept=quotes")
    rec = Recording.open(runs["tiny"] / "recordings" / newest(runs["tiny"]))
    expected = concept_values("quotes", rec.text).tolist()
    assert any(expected) and underlined(duo) == expected
    duo.find_element("#b-next").click()  # recolouring keeps the underline
    wait_painted(duo, "|0|1|c|")
    assert underlined(duo) == expected
    assert shown_levels(duo) == expected_levels(runs["tiny"], newest(runs["tiny"]), 0, 1, "c", 0, rec.n_chars)


def choose(duo, control, value):
    """Pick an option of a Dash 4 dropdown or radio group by its value."""
    if duo.find_element(control).tag_name == "button":  # a dropdown: open it, the options appear in a popover
        duo.find_element(control).click()
        control = ".dash-dropdown-options"
    option = duo.find_element(f'{control} input[value="{value}"]')
    option.find_element(By.XPATH, "./ancestor::label[1]").click()


def test_kind_checkpoint_view_and_run_controls(duo, runs):
    visit(duo, "?run=tiny&size=1000")
    choose(duo, "#b-kind", "h")
    wait_painted(duo, "|0|0|h|")
    assert shown_levels(duo) == expected_levels(runs["tiny"], newest(runs["tiny"]), 0, 0, "h", 0, 1000)
    choose(duo, "#b-checkpoint", "iter-000050")
    wait_painted(duo, "iter-000050|0|0|h|")
    assert shown_levels(duo) == expected_levels(runs["tiny"], "iter-000050", 0, 0, "h", 0, 1000)
    choose(duo, "#b-view", "top5")
    duo.wait_for_element("#b-text .col .g")
    wait_painted(duo, "iter-000050|0|0|h|")
    assert "checkpoint=iter-000050" in duo.driver.current_url and "top5=1" in duo.driver.current_url

    duo.find_element('a.nav-link[href="/"]').click()  # page links keep the view's query
    wait_painted(duo, "iter-000050|0|0|h|")
    assert "kind=h" in duo.driver.current_url

    choose(duo, "#run-select", "hostile")  # another served run opens in place of this one
    WebDriverWait(duo.driver, 10).until(lambda d: "run=hostile" in d.current_url)
    wait_painted(duo, "iter-000100|0|0|c|")
    assert len(duo.find_elements("#b-text .ch")) == len(runs["hostile_text"])
    assert duo.get_logs() == []


def test_export_downloads_the_view(duo, runs):
    visit(duo, "?run=tiny&layer=1&cell=2&start=500&size=1000")
    duo.find_element("#b-export").click()
    path = duo.download_path
    WebDriverWait(duo.driver, 10).until(lambda d: [p for p in _files(path) if p.name.endswith(".html")])
    page = next(p for p in _files(path) if p.name.endswith(".html")).read_text(encoding="utf-8")
    spans = re.findall(r'<span class="ch v(\d+)" data-i="(\d+)"', page)
    assert [int(i) for _, i in spans] == list(range(500, 1500))
    assert [int(v) for v, _ in spans] == expected_levels(runs["tiny"], newest(runs["tiny"]), 1, 2, "c", 500, 1500)
    assert "<script" not in page

    choose(duo, "#b-colour", "loss")  # coloured by the loss, the export is too: the same levels as the page
    wait_painted(duo, "|loss")
    on_page = duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#b-text .ch'), e => Number(/\\bl(\\d+)\\b/.exec(e.className)[1]))")
    for p in _files(path):
        p.unlink()
    duo.find_element("#b-export").click()
    WebDriverWait(duo.driver, 10).until(lambda d: [p for p in _files(path) if p.name.endswith(".html")])
    page = next(p for p in _files(path) if p.name.endswith(".html")).read_text(encoding="utf-8")
    assert [int(v) for v in re.findall(r'<span class="ch l(\d+)"', page)] == on_page
    assert len(set(on_page)) > 3  # the losses spread over the scale
    choose(duo, "#b-colour", "cell")


def _files(path):
    return [p for p in Path(path).iterdir() if not p.name.endswith(".crdownload")]


def test_hostile_text_is_shown_literally_and_runs_nothing(duo, runs):
    visit(duo, "?run=hostile")
    shown = duo.driver.execute_script("return Array.from(document.querySelectorAll('#b-text .ch'), e => e.textContent)")
    assert "".join(UNGLYPH.get(c, c) for c in shown) == runs["hostile_text"]
    visible = duo.driver.execute_script("return document.getElementById('b-text').textContent")
    assert HOSTILE.replace(" ", "·") in visible
    injected = "#b-text script, #b-text img, #b-excerpts script, #b-excerpts img, #cs-tip img"
    ActionChains(duo.driver).move_to_element(duo.find_element('#b-text .ch[data-i="5"]')).perform()
    duo.wait_for_element("#cs-tip .tip-guess")
    assert duo.driver.execute_script(f"return document.querySelectorAll('{injected}').length") == 0
    assert duo.find_elements("#cs-tip .tip-guess")[0].find_element(By.CSS_SELECTOR, ".tip-char").text == "<"
    with pytest.raises(NoAlertPresentException):
        duo.driver.switch_to.alert.text
    visit(duo, "?run=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")  # a run name from the URL is text too
    assert "<img src=x onerror=alert(1)>" in duo.find_element(".msg.error").text
    assert duo.driver.execute_script("return document.querySelectorAll('.msg img').length") == 0
    assert duo.get_logs() == []


def test_bad_command_line_is_one_line(tmp_path, capsys):
    import app

    with pytest.raises(SystemExit) as exit:
        app.main([str(tmp_path / "nope")])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err
    with pytest.raises(SystemExit):
        app.main([str(tmp_path), str(tmp_path)])
    assert "two runs are named" in capsys.readouterr().err


def test_selecting_a_span_offers_to_rank_cells_against_it(duo, runs):
    visit(duo, "?run=tiny")
    assert not duo.find_element("#b-span-link").is_displayed()
    duo.driver.execute_script("""
        const a = document.querySelector('#b-text .ch[data-i="100"]'), b = document.querySelector('#b-text .ch[data-i="140"]');
        const range = document.createRange();
        range.setStart(a.firstChild || a, 0);
        range.setEnd(b.firstChild || b, 1);
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
        document.getElementById('b-text').dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));""")
    link = duo.find_element("#b-span-link")
    assert link.is_displayed() and "span=100-141" in link.get_attribute("href")
    assert "run=tiny" in link.get_attribute("href")
    link.click()
    WebDriverWait(duo.driver, 15).until(lambda d: "/find" in d.current_url)
    duo.wait_for_element("#f-span-start")
    assert duo.find_element("#f-span-start").get_attribute("value") == "100"
    assert duo.find_element("#f-span-stop").get_attribute("value") == "141"


def test_the_run_selector_shows_the_run_the_page_shows(duo, runs):
    visit(duo, "?run=nosuch&cell=3")
    duo.wait_for_contains_text(".msg.error", "There is no run 'nosuch'")
    WebDriverWait(duo.driver, 10).until(lambda d: "tiny" in duo.find_element("#run-select").text)
    assert "run=nosuch" in duo.driver.current_url or "run=tiny" in duo.driver.current_url
    assert duo.find_element("#b-cell").get_attribute("value") == "3"  # no reload lost the view
    visit(duo, "?run=hostile")
    WebDriverWait(duo.driver, 10).until(lambda d: "hostile" in duo.find_element("#run-select").text)
