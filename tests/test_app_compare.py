"""The Compare view in real headless Chromium: one row per checkpoint, a cell switch recolours every row and
keeps the chosen concept underlined in each, the hover box, the guesses table, the charts, the samples and the
cross-run match.

Served: the real tiny run (three checkpoints recorded over the same text) and "shuffled", a copy of its
newest recording with the cells permuted across layers, whose cells the match panel must find again.
"""
import json
import os
import shutil

import numpy as np
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import HOSTILE, served
from model import rundir
from model.recording import Recording, RecordingWriter
from test_app_browse import choose, export_title, hover, tip_lines
from viz import score_cache
from viz.colors import display_values, quantize, value_range
from viz.concepts import concept_values
from viz.ranking import score_cells
from viz.text_html import GLYPHS


def shuffled_copy(rec, path, perm):
    """rec with its flat cell j moved to position perm-inverse: B's flat cell k is A's flat cell perm[k]."""
    w = RecordingWriter(path, rec.text, rec.vocab, rec.layers, rec.cells, rec.kinds,
                        {"checkpoint": rec.checkpoint, "iteration": rec.iteration})
    for kind in rec.kinds:
        flat = np.asarray(rec.array(kind)).reshape(rec.layers * rec.cells, rec.n_chars)
        w.states[kind][...] = flat[perm].reshape(rec.layers, rec.cells, rec.n_chars)
    w.finish()


@pytest.fixture(scope="module")
def runs(tiny_run, tmp_path_factory):
    newest = Recording.open(list(rundir.recordings(tiny_run).values())[-1])
    perm = np.random.default_rng(0).permutation(newest.layers * newest.cells)
    shuffled = tmp_path_factory.mktemp("compare") / "shuffled"
    shuffled_copy(newest, shuffled / "recordings" / newest.checkpoint, perm)
    (shuffled / "samples").mkdir()
    (shuffled / "samples" / f"{newest.checkpoint}.txt").write_text(HOSTILE, encoding="utf-8")
    broken = tmp_path_factory.mktemp("compare") / "broken"  # one checkpoint's c.npy cut in half
    shutil.copytree(tiny_run, broken)
    c = broken / "recordings" / "iter-000100" / "c.npy"
    os.truncate(c, c.stat().st_size // 2)
    return {"tiny": tiny_run, "shuffled": shuffled, "perm": perm, "broken": broken}


@pytest.fixture(scope="module")
def duo(runs):
    from viz.app import create_app

    with served(create_app([runs["tiny"], runs["shuffled"], runs["broken"]])) as duo:
        yield duo


def visit(duo, query):
    duo.reset_log_timestamp()
    duo.wait_for_page(f"{duo.server.url}/compare{query}")
    return wait_painted(duo)


def wait_painted(duo, contains="", marked=""):
    """Wait until the rows show a cell whose key has `contains`, and the underline of a concept whose key has
    `marked` over the same window (painted "WINDOW|layer|cell|kind", marked "WINDOW|concept")."""
    def shown(driver):
        box = driver.find_element(By.ID, "cmp-rows")
        painted, underlined = box.get_attribute("data-painted") or "\0", box.get_attribute("data-marked") or "\0"
        same_window = painted.rsplit("|", 3)[0] == underlined.rsplit("|", 1)[0]
        return contains in painted and marked in underlined and same_window
    WebDriverWait(duo.driver, 15).until(shown)
    return duo.find_element("#cmp-rows").get_attribute("data-painted")


def row_classes(duo):
    """Per row, the class list of every character span as the user sees it: each chunk read while it is
    scrolled to (a cell switch restyles the chunks near the view at once, the others as they come near)."""
    return duo.driver.execute_async_script("""
      const done = arguments[arguments.length - 1];
      const texts = Array.from(document.querySelectorAll('#cmp-rows .cmp-text'));
      const out = texts.map(t => Array.from(t.getElementsByClassName('ch'), () => null));
      const frame = () => new Promise(r => requestAnimationFrame(r));
      const read = () => texts.forEach((t, r) => {
        let i = 0;
        for (const chunk of t.children) {
          for (const e of chunk.getElementsByClassName('ch')) {
            if (chunk.style.contentVisibility === 'visible' && out[r][i] === null) out[r][i] = e.className;
            i++;
          }
        }
      });
      (async () => {
        for (let top = 0; top <= texts[0].scrollHeight; top += texts[0].clientHeight / 2) {
          texts[0].scrollTop = top;  // the other rows follow
          for (let k = 0; k < 3; k++) await frame();
          read();
        }
        texts[0].scrollTop = 0;
        done(out);
      })();
    """)


def expected_classes(run, layer, cell, kind, start, stop, underlined="quotes"):
    """Per row, "ch" (with "u" inside the underlined concept) and the cell's level class, as the page sets them."""
    out = []
    for path in rundir.recordings(run).values():
        rec = Recording.open(path)
        shown = display_values(rec.series(layer, cell, kind, start, stop), kind)
        inside, levels = concept_values(underlined, rec.text)[start:stop], quantize(shown, *value_range(kind))
        out.append([f"ch{' u' if u else ''} v{v}" for u, v in zip(inside.tolist(), levels.tolist())])
    return out


def underlines(duo):
    return duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#cmp-rows .cmp-text'),"
        " t => Array.from(t.querySelectorAll('.ch'), e => e.classList.contains('u')))")


def test_one_row_per_checkpoint_and_a_cell_switch_recolours_every_row(duo, runs):
    visit(duo, "?run=tiny&size=1000")
    found = rundir.recordings(runs["tiny"])
    heads = [e.text for e in duo.find_elements("#cmp-rows .cmp-head")]
    assert len(heads) == len(found) == 3
    for head, path in zip(heads, found.values()):
        rec = Recording.open(path)
        assert f"iter {rec.iteration}" in head and f"val loss {rec.meta['val_loss']:.3f}" in head
    before = row_classes(duo)
    assert before == expected_classes(runs["tiny"], 0, 0, "c", 0, 1000)
    text = duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#cmp-rows .cmp-text'), t => t.textContent)")
    unglyph = {g: c for c, g in GLYPHS.items()}
    assert {"".join(unglyph.get(c, c) for c in t) for t in text} == {Recording.open(found["iter-000050"]).text[:1000]}

    duo.find_element("#cmp-next").click()
    wait_painted(duo, "|0|1|c")
    after = row_classes(duo)
    assert after == expected_classes(runs["tiny"], 0, 1, "c", 0, 1000)
    assert all(a != b for a, b in zip(after, before))  # every row changed
    duo.find_element("#cmp-kind input[value='h']").click()
    wait_painted(duo, "|0|1|h")
    assert row_classes(duo) == expected_classes(runs["tiny"], 0, 1, "h", 0, 1000)
    assert "cell=1" in duo.driver.current_url and "kind=h" in duo.driver.current_url
    assert duo.get_logs() == []


def test_rows_scroll_together_and_render_the_scrolled_to_lines(duo, runs):
    visit(duo, "?run=tiny&size=3000")
    duo.driver.execute_script("const t = document.querySelectorAll('.cmp-text')[1]; t.scrollTop = t.scrollHeight;")

    def scrolled_together(driver):
        tops = driver.execute_script("return Array.from(document.querySelectorAll('.cmp-text'), t => t.scrollTop)")
        return len(set(tops)) == 1 and tops[0] > 0

    WebDriverWait(duo.driver, 5).until(scrolled_together)
    shown = duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('.cmp-text'), t => [t.firstElementChild, t.lastElementChild]"
        ".map(c => c.querySelector('.ch').checkVisibility({contentVisibilityAuto: true})))")
    assert shown == [[False, True]] * 3  # the end of every row is drawn, its far-away start is not


def test_checkpoints_and_window_come_from_the_url(duo, runs):
    visit(duo, "?run=tiny&checkpoints=iter-000050,iter-000150&layer=1&cell=7&start=2500&size=1000")
    heads = [e.text for e in duo.find_elements("#cmp-rows .cmp-head")]
    assert len(heads) == 2 and "iter 50" in heads[0] and "iter 150" in heads[1]
    expected = expected_classes(runs["tiny"], 1, 7, "c", 2500, 3000)
    assert row_classes(duo) == [expected[0], expected[2]]  # clamped to the recording's 3,000 chars
    assert duo.driver.execute_script("return document.querySelector('#cmp-rows .ch').dataset.i") == "2500"
    duo.find_element("#cmp-page-next").click()  # no page after the last: nothing moves
    duo.find_element("#cmp-page-prev").click()
    wait_painted(duo, "|1500|1000|1|7|c")
    expected = expected_classes(runs["tiny"], 1, 7, "c", 1500, 2500)
    assert row_classes(duo) == [expected[0], expected[2]]
    assert "start=1500" in duo.driver.current_url
    assert "checkpoints=iter-000050%2Citer-000150" in duo.driver.current_url
    assert duo.get_logs() == []


def test_the_chosen_concept_is_underlined_in_every_row_under_every_cell(duo, runs):
    visit(duo, "?run=tiny&size=1000&concept=line-position")  # a count, not a set of positions: no underline
    assert not any(map(any, underlines(duo)))
    choose(duo, "#cmp-concept", "word-start")
    wait_painted(duo, "|0|0|c", marked="|word-start")
    recs = [Recording.open(p) for p in rundir.recordings(runs["tiny"]).values()]
    expected = [concept_values("word-start", rec.text)[:1000].tolist() for rec in recs]
    assert any(expected[0]) and underlines(duo) == expected
    duo.find_element("#cmp-next").click()  # recolouring every row keeps each span's underline
    wait_painted(duo, "|0|1|c", marked="|word-start")
    assert row_classes(duo) == expected_classes(runs["tiny"], 0, 1, "c", 0, 1000, underlined="word-start")
    assert "concept=word-start" in duo.driver.current_url
    assert duo.get_logs() == []


def test_hover_box_in_every_row_says_what_the_export_says(duo, runs):
    visit(duo, "?run=tiny&layer=1&cell=3")
    pos = 150
    for row, checkpoint in enumerate(rundir.recordings(runs["tiny"]), 1):
        lines = export_title(runs["tiny"], checkpoint, 1, 3, "c", pos)
        hover(duo, f'#cmp-rows .cmp-row:nth-child({row}) .ch[data-i="{pos}"]', lines[0])
        assert tip_lines(duo) == lines
    assert duo.get_logs() == []


def test_guesses_scores_loss_and_samples(duo, runs):
    visit(duo, "?run=tiny&layer=1&cell=3&concept=quotes")
    recs = [Recording.open(p) for p in rundir.recordings(runs["tiny"]).values()]
    pos = 120
    duo.find_element(f'#cmp-rows .cmp-row:nth-child(2) .ch[data-i="{pos}"]').click()  # a click picks the position
    WebDriverWait(duo.driver, 10).until(lambda d: d.find_element(By.ID, "cmp-pos").get_attribute("value") == str(pos))
    duo.wait_for_contains_text("#cmp-guesses", f"(position {pos})")
    rows = duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#cmp-guesses tbody tr'),"
        " r => Array.from(r.cells, c => c.textContent))")
    assert [r[0] for r in rows] == [f"{rec.iteration}" for rec in recs]
    for row, rec in zip(rows, recs):
        (chars,), (probs,) = rec.top5(pos, pos + 1)
        assert row[1:6] == [f"{GLYPHS.get(c, c)} {p:.0%}" for c, p in zip(chars, probs.tolist())]
    outlined = duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#cmp-rows .at'), e => e.dataset.i)")
    assert outlined == [str(pos)] * 3  # in every row, and nowhere else

    def traces(graph):
        script = (f"const g = document.querySelector('#{graph} .js-plotly-plot');"
                  "return g && g.data && g.data.map(t => t.y)")
        WebDriverWait(duo.driver, 20).until(lambda d: d.execute_script(script))
        return duo.driver.execute_script(script)

    best, mine = traces("cmp-score")  # scored by a background job, which left its scores beside each recording
    assert all(score_cache.is_cached(rec, concept_id="quotes", kinds=("c", "h")) for rec in recs)  # as Find's
    want = [score_cells(rec, concept_values("quotes", rec.text), kinds=("c",)) for rec in recs]
    np.testing.assert_allclose(best, [w["score"].iloc[0] for w in want])
    np.testing.assert_allclose(mine, [w.query("layer == 1 and cell == 3")["score"].iloc[0] for w in want])
    train, val = traces("cmp-loss")
    assert len(val) == 3 and len(train) > 3
    samples = [e.text for e in duo.find_elements("#cmp-samples pre")]
    written = sorted((runs["tiny"] / "samples").glob("iter-*.txt"))
    assert len(samples) == 3
    assert [s.strip() for s in samples] == [p.read_text(encoding="utf-8").strip() for p in written]
    assert duo.get_logs() == []


def test_match_panel_finds_the_cell_in_the_shuffled_run(duo, runs):
    visit(duo, "?run=tiny&layer=1&cell=5")
    perm, cells = runs["perm"], Recording.open(list(rundir.recordings(runs["tiny"]).values())[-1]).cells
    k = int(np.flatnonzero(perm == 1 * cells + 5)[0])  # where flat cell 1:5 went
    duo.wait_for_contains_text("#cmp-match-result", "r = +1.000")
    assert duo.find_element("#cmp-match-link").text == f"{k // cells}:{k % cells}"
    duo.find_element("#cmp-next").click()
    k = int(np.flatnonzero(perm == 1 * cells + 6)[0])
    duo.wait_for_text_to_equal("#cmp-match-link", f"{k // cells}:{k % cells}")
    duo.find_element("#cmp-match-link").click()  # and the link browses that cell of the other run
    duo.wait_for_text_to_equal("#b-label", f"layer {k // cells} · cell {k % cells} · tanh(c)")
    assert "run=shuffled" in duo.driver.current_url
    assert duo.get_logs() == []


def test_samples_are_shown_as_text(duo, runs):
    visit(duo, "?run=shuffled")
    shown = "return document.querySelector('#cmp-samples pre').textContent"  # .text would fold U+2028 into a space
    assert duo.driver.execute_script(shown) == HOSTILE
    inside = "return document.querySelectorAll('#cmp-samples pre *, #cmp-samples script').length"
    assert duo.driver.execute_script(inside) == 0
    duo.wait_for_contains_text("#cmp-match-result", "r = +1.000")  # and back the other way
    assert duo.get_logs() == []


@pytest.mark.parametrize("query, message", [
    ("?run=tiny&cell=999", "cell=999 is out of range"),
    ("?run=tiny&checkpoints=iter-000050,iter-999999", "are not recorded in tiny"),
    ("?run=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E", "There is no run '<img src=x onerror=alert(1)>'"),
])
def test_a_bad_url_parameter_is_explained_and_the_page_still_works(duo, query, message):
    visit(duo, query)
    assert message in duo.find_element(".msg.error").text
    assert duo.find_elements("#cmp-rows .ch")
    assert duo.driver.execute_script("return document.querySelectorAll('.msg img').length") == 0


def test_an_unreadable_checkpoint_is_one_notice_and_one_missing_row(duo, runs):
    visit(duo, "?run=broken&size=500")
    heads = [e.text for e in duo.find_elements("#cmp-rows .cmp-head")]
    assert len(heads) == 2 and "iter 50" in heads[0] and "iter 150" in heads[1]
    notices = [e.text for e in duo.find_elements("[role=alert]")]
    assert len(notices) == 1 and "iter-000100" in notices[0] and "c.npy" in notices[0]
    assert "python -m model.record" in notices[0]
    assert row_classes(duo) == [rows for k, rows in enumerate(expected_classes(runs["tiny"], 0, 0, "c", 0, 500))
                                if k != 1]


def test_the_closest_ngram_chart_follows_each_checkpoints_ngram_json(duo, runs):
    visit(duo, "?run=broken&size=500")
    duo.wait_for_contains_text("#cmp-ngram", "--all-checkpoints")  # not fitted yet: the command that fits it
    for name, order in (("iter-000050", 2), ("iter-000150", 5)):  # as viz.ngram --all-checkpoints writes them
        kl = [1.0 - 0.1 * k for k in range(6)]
        kl[order - 1] = 0.05
        (runs["broken"] / "recordings" / name / "ngram.json").write_text(
            json.dumps({"closest_order": order, "kl_top5": kl}), encoding="utf-8")
    visit(duo, "?run=broken&size=500")
    script = ("const g = document.querySelector('#cmp-ngram-graph .js-plotly-plot');"
              "return g && g.data && [g.data[0].x, g.data[0].y]")
    WebDriverWait(duo.driver, 20).until(lambda d: d.execute_script(script))
    assert duo.driver.execute_script(script) == [[50, 150], [2, 5]]
