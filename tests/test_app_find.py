"""The Find view: its helpers on a recording with planted detectors over real text, then the page in real
headless Chromium on the real tiny run (rank by concept, regex and span; a row click opens Browse with the
cell; excerpts; the overview; gate saturation; errors shown as messages).

One app serves every run these tests need and one browser visits it, so each test takes seconds.
"""
import sys

import numpy as np
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from conftest import HOSTILE, real_text, served
from model import rundir
from model.errors import CellscopeError
from model.recording import Recording, RecordingWriter
from viz.concepts import CONCEPTS, concept_values
from viz.excerpts import excerpts
from viz.figures import gate_saturation
from viz.positions import strongest_positions
from viz.ranking import rank_recording


def planted_recording(path):
    """Tolstoy's opening (dialogue in double quotes) plus the hostile line; random activations except three
    planted cells: c of 1:5 is high inside quotes, h of 0:2 rises with the line position, h of 0:7 fires on
    the hostile line only."""
    opening = real_text("war_and_peace.txt")[:60_000]
    text = opening[opening.index('"Well, Prince'):][:4000] + "\n" + HOSTILE + "\n"
    rng = np.random.default_rng(0)
    w = RecordingWriter(path, text, sorted(set(text)), 2, 8, ("c", "h"),
                        {"checkpoint": "iter-000100", "iteration": 100})
    w.states["c"][...] = rng.normal(0, 1, (2, 8, len(text)))
    w.states["h"][...] = rng.uniform(-1, 1, (2, 8, len(text)))
    w.states["c"][1, 5] = np.where(concept_values("quotes", text), 2.0, -2.0) + rng.normal(0, 0.3, len(text))
    w.states["h"][0, 2] = np.tanh(concept_values("line-position", text) / 40)
    w.states["h"][0, 7] = 0.0
    w.states["h"][0, 7, text.index(HOSTILE):] = 1.0
    w.finish()


@pytest.fixture(scope="module")
def runs(tiny_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("find")
    planted = root / "planted"
    planted_recording(planted / "recordings" / "iter-000100")
    (root / "empty").mkdir()
    return {"tiny": tiny_run, "planted": planted, "empty": root / "empty"}


@pytest.fixture(scope="module")
def app(runs):
    from viz.app import create_app

    app = create_app([runs["tiny"], runs["planted"], runs["empty"]])
    app.server.test_client().get("/")  # the first request hands Dash's page callbacks to this app
    return app


@pytest.fixture(scope="module")
def find(app):
    """The Find page module (Dash imports the pages when it makes the app)."""
    return sys.modules["viz.app.find"]


@pytest.fixture(scope="module")
def duo(app):
    with served(app) as duo:
        yield duo


def newest(run):
    return Recording.open(list(rundir.recordings(run).values())[-1])


# ---------------------------------------------------------------------------------------------------------
# helpers, no browser


def test_overview_finds_the_planted_detectors_and_leaves_out_absent_concepts(find, runs):
    rec = newest(runs["planted"])
    best, left_out = find.overview(rec)
    assert set(best["concept"]).isdisjoint(left_out) and set(best["concept"]) | set(left_out) == set(CONCEPTS)
    assert "url" in left_out and "true nowhere" in left_out["url"]
    assert "quotes" in set(best["concept"]) and "line-position" in set(best["concept"])
    for _, rows in best.groupby("concept"):
        assert rows["layer"].tolist() == [0, 1]
    quotes = best[(best["concept"] == "quotes") & (best["layer"] == 1)].iloc[0]
    assert (quotes["cell"], quotes["kind"], quotes["sign"]) == (5, "c", 1) and quotes["score"] > 0.99
    assert quotes["strength"] == pytest.approx(2 * quotes["score"] - 1)
    line = best[(best["concept"] == "line-position") & (best["layer"] == 0)].iloc[0]
    assert (line["cell"], line["kind"], line["metric"]) == (2, "h", "spearman")
    assert line["strength"] == line["score"] > 0.99
    assert best["strength"].between(0, 1).all()


def test_ranked_table_rows_and_cache(find, runs):
    rec = newest(runs["planted"])
    scores = find.ranked(rec, ("concept", "quotes"))
    assert find.ranked(rec, ("concept", "quotes")) is scores  # scored once per (recording, target)
    rows = find.table_rows(scores, limit=5)
    assert len(rows) == 5 and rows[0]["rank"] == 1
    top = rows[0]
    assert (top["id"], top["layer"], top["cell"], top["kind"], top["sign"]) == ("1-5-c", 1, 5, "c", 1)
    assert top["mean_in"] > 1.5 and top["mean_out"] < -1.5
    assert find.table_rows(find.ranked(rec, ("concept", "line-position")))[0]["mean_in"] is None
    with pytest.raises(CellscopeError, match="invalid regular expression"):
        find.ranked(rec, ("regex", "("))
    with pytest.raises(CellscopeError, match="outside the text"):
        find.ranked(rec, ("span", 10, 10 ** 6))


def test_strongest_positions_are_spaced_and_ordered():
    values = np.zeros(1000)
    values[[100, 103, 500, 900]] = [5, 4, 3, 2]
    values[700] = np.nan
    assert strongest_positions(values, 3, 10) == [100, 500, 900]
    assert strongest_positions(values, 2, 2) == [100, 103]
    assert strongest_positions(values[:0], 3, 10) == []


def test_excerpts_take_the_sign_or_else_the_larger_tail(runs):
    """A cell resting at -0.1 that fires to +0.9 twice and dips to -0.5 once: with no sign, its strongest
    positions are where it fires (|value| would list the dip before the rest); sign -1 lists the dip first."""
    rec = newest(runs["planted"])
    raw = np.full(rec.n_chars, -0.1, dtype=np.float32)
    raw[[500, 1500]], raw[1000] = 0.9, -0.5
    strongest = [pos for pos, _ in excerpts(rec, raw, "h", 3, 20, 12)]
    assert strongest[:2] == [500, 1500] and 1000 not in strongest
    (pos, page), *_ = excerpts(rec, raw, "h", 3, 20, 12, sign=-1, note=lambda p: f"<{p}>")
    assert pos == 1000 and page.startswith('<span class="ex-at">#1000 -0.50 &lt;1000&gt;</span> ')
    assert page.count('<span class="at">') == 1 and '<span class="at"><span class="ch v5" data-i="1000">' in page


def test_span_parsing_and_browse_links(find):
    assert find.parse_span("100-250") == (100, 250)
    for bad in ("abc", "5", "1-2-3", "-5"):
        with pytest.raises(CellscopeError, match="START-STOP"):
            find.parse_span(bad)
    assert find.browse_href("tiny", "iter-000150", 1, 7, "h", ("concept", "quotes")) == \
        "/?run=tiny&checkpoint=iter-000150&layer=1&cell=7&kind=h&concept=quotes"
    assert "concept" not in find.browse_href("tiny", "iter-000150", 1, 7, "h", ("concept", "line-position"))
    assert find.browse_href("a b", "c", 0, 1, "c", ("regex", "x&y")) == "/?run=a+b&checkpoint=c&layer=0&cell=1&kind=c"
    assert find.browse_href("r", "c", 0, 1, "c", ("span", 1000, 1300)).endswith("&start=800")


def test_excerpts_show_the_detector_inside_its_concept_escaped(find, runs):
    rec = newest(runs["planted"])
    row = find.table_rows(find.ranked(rec, ("concept", "quotes")), limit=1)[0]
    page = find.excerpts_html(rec, "planted", row, ["concept", "quotes"])
    assert page.count('class="ex"') == find.EXCERPTS
    assert page.count(" inside</span>") == find.EXCERPTS  # a perfect detector's strongest positions are in quotes
    low = find.excerpts_html(rec, "planted", {**row, "sign": -1}, ["concept", "quotes"])
    assert low.count(" outside</span>") == find.EXCERPTS
    hostile = find.excerpts_html(rec, "planted", {"layer": 0, "cell": 7, "kind": "h", "sign": 1, "rank": 1},
                                 ["concept", "quotes"])
    assert "&lt;" in hostile and "<script" not in hostile and "<img" not in hostile


def test_gate_saturation_has_one_panel_per_gate_and_a_point_per_cell(runs):
    stats = newest(runs["tiny"]).gate_stats
    fig = gate_saturation(stats)
    assert [a.text for a in fig.layout.annotations] == ["input gate", "forget gate", "output gate"]
    assert len(fig.data) == 3 * 2
    forget_layer_1 = fig.data[3]
    assert forget_layer_1.name == "layer 1" and list(forget_layer_1.x) == stats["f"]["layer_1"]["left"]
    assert list(forget_layer_1.y) == stats["f"]["layer_1"]["right"] and len(forget_layer_1.x) == 32


# ---------------------------------------------------------------------------------------------------------
# the page in a browser


def visit(duo, query=""):
    duo.reset_log_timestamp()
    duo.wait_for_page(f"{duo.server.url}/find{query}")


def wait_summary(duo, contains):
    WebDriverWait(duo.driver, 15).until(lambda d: contains in d.find_element(By.ID, "f-summary").text)


def grid_rows(duo, n):
    """(layer, cell, kind) of the first n rows the grid shows."""
    return duo.driver.execute_script(f"""
        const rows = Array.from(document.querySelectorAll('#f-grid .ag-center-cols-container .ag-row'))
            .sort((a, b) => a.getAttribute('row-index') - b.getAttribute('row-index')).slice(0, {n});
        return rows.map(r => ['layer', 'cell', 'kind'].map(c => r.querySelector(`[col-id="${{c}}"]`).textContent));""")


def expected_rows(run, n, **target):
    top = rank_recording(newest(run), kinds=("c", "h"), **target).head(n)
    return [[str(r.layer), str(r.cell), r.kind] for r in top.itertuples()]


def choose_concept(duo, concept):
    duo.find_element("#f-concept").click()
    duo.wait_for_element(".dash-dropdown-search").send_keys(concept)
    WebDriverWait(duo.driver, 5).until(lambda d: [o for o in d.find_elements(By.CSS_SELECTOR, "[role=option]")
                                                  if o.text.startswith(f"{concept}:")])[0].click()


def test_choosing_a_concept_ranks_the_cells_and_a_row_click_opens_it_in_browse(duo, runs):
    visit(duo, "?run=tiny&concept=vowel")
    wait_summary(duo, "concept vowel")
    choose_concept(duo, "quotes")
    wait_summary(duo, "concept quotes")
    rows = grid_rows(duo, 5)
    assert rows == expected_rows(runs["tiny"], 5, concept_id="quotes")
    assert "128 cells" in duo.find_element("#f-summary").text  # 2 layers x 32 cells x (c, h)
    assert "concept=quotes" in duo.driver.current_url

    layer, cell, kind = rows[0]
    duo.find_element('#f-grid .ag-row[row-index="0"] [col-id="score"]').click()
    WebDriverWait(duo.driver, 10).until(lambda d: d.find_elements(By.ID, "b-label"))
    duo.wait_for_text_to_equal("#b-label", f"layer {layer} · cell {cell} · {'tanh(c)' if kind == 'c' else 'h'}")
    WebDriverWait(duo.driver, 10).until(lambda d: d.find_element(By.ID, "b-text").get_attribute("data-painted"))
    underlined = duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#b-text .ch'), e => e.classList.contains('u'))")
    assert underlined == concept_values("quotes", newest(runs["tiny"]).text).tolist()
    assert f"layer={layer}&cell={cell}&kind={kind}" in duo.driver.current_url
    assert duo.get_logs() == []


def test_excerpts_follow_the_top_cell_and_show_clicks(duo, runs):
    visit(duo, "?run=tiny&concept=quotes")
    wait_summary(duo, "concept quotes")
    top, second = grid_rows(duo, 2)
    duo.wait_for_contains_text("#f-excerpts-title", f"cell {top[0]}:{top[1]} ")
    assert len(duo.find_elements("#f-excerpts .ex")) == 8
    duo.find_element('#f-grid .ag-row[row-index="1"] [col-id="excerpts"]').click()
    duo.wait_for_contains_text("#f-excerpts-title", f"cell {second[0]}:{second[1]} ")
    assert "/find" in duo.driver.current_url  # "show" stays on the page
    link = duo.find_element("#f-excerpts .ex").get_attribute("href")
    assert f"layer={second[0]}&cell={second[1]}&kind={second[2]}" in link and "concept=quotes" in link
    assert duo.get_logs() == []


def test_a_regex_ranks_its_matches_and_an_invalid_one_is_a_message(duo, runs):
    visit(duo, "?run=tiny")
    wait_summary(duo, "concept quotes")
    box = duo.find_element("#f-regex")
    box.send_keys("(unclosed" + Keys.ENTER)
    duo.wait_for_contains_text("#f-msg", "invalid regular expression")
    assert not duo.find_elements("#f-grid .ag-row")
    assert duo.find_element("#f-mode input[value=regex]").is_selected()
    box.clear()
    box.send_keys(r"[A-Z]\w*" + Keys.ENTER)
    wait_summary(duo, "regex '[A-Z]\\\\w*'")
    assert grid_rows(duo, 5) == expected_rows(runs["tiny"], 5, regex=r"[A-Z]\w*")
    assert not duo.find_element("#f-msg").text
    assert duo.get_logs() == []


def test_a_span_from_the_url_is_the_positive_set_and_browse_opens_at_it(duo, runs):
    visit(duo, "?run=tiny&span=1000-1300")
    wait_summary(duo, "span [1000, 1300): 300 of 3,000 positions inside")
    assert grid_rows(duo, 3) == expected_rows(runs["tiny"], 3, span=(1000, 1300))
    duo.find_element('#f-grid .ag-row[row-index="0"] [col-id="cell"]').click()
    WebDriverWait(duo.driver, 10).until(lambda d: d.find_elements(By.ID, "b-start"))
    duo.wait_for_element("#b-text .ch")
    assert duo.find_element("#b-start").get_attribute("value") == "800"


def test_overview_and_gate_saturation(duo, runs):
    visit(duo, "?run=tiny")
    duo.wait_for_element("#f-gates .js-plotly-plot")
    stats = newest(runs["tiny"]).gate_stats
    gates = duo.driver.execute_script("return document.querySelector('#f-gates .js-plotly-plot').data"
                                      ".map(t => [t.name, t.x.length])")
    assert gates == [["layer 0", 32], ["layer 1", 32]] * 3 and len(stats["i"]["layer_0"]["left"]) == 32
    assert not duo.find_elements("#f-overview .js-plotly-plot")  # scored only when asked
    duo.find_element("#f-overview-btn").click()
    duo.wait_for_element("#f-overview .js-plotly-plot", timeout=30)
    heat = duo.driver.execute_script("const t = document.querySelector('#f-overview .js-plotly-plot').data[0];"
                                     "return [t.y, t.z.map(r => r.length)]")
    assert heat == [list(CONCEPTS), [2] * len(CONCEPTS)]
    duo.wait_for_contains_text("#f-overview-msg", "Left out, constant on this text:")
    assert "url" in duo.find_element("#f-overview-msg").text
    drag, dx, dy = duo.driver.execute_script("""
        const gd = document.querySelector('#f-overview .js-plotly-plot'), L = gd._fullLayout;
        const drag = gd.querySelector('.nsewdrag'), box = drag.getBoundingClientRect();
        const x = L.xaxis.l2p(1) + L._size.l + gd.getBoundingClientRect().left;
        const y = L.yaxis.l2p(arguments[0]) + L._size.t + gd.getBoundingClientRect().top;
        return [drag, x - (box.left + box.width / 2), y - (box.top + box.height / 2)];""",
        list(CONCEPTS).index("vowel"))
    ActionChains(duo.driver).move_to_element(drag).move_by_offset(round(dx), round(dy)).click().perform()
    wait_summary(duo, "concept vowel")  # a square's click ranks that concept
    assert duo.get_logs() == []


@pytest.mark.parametrize("query, where, message", [
    ("?run=tiny&concept=url", "#f-msg", "true nowhere in this text"),
    ("?run=tiny&span=2900-5000", "#f-msg", "outside the text's 3000 characters"),
    ("?run=tiny&concept=nope", ".msg.error", "There is no concept 'nope'"),
    ("?run=tiny&span=abc", ".msg.error", "span='abc' should be START-STOP"),
    ("?run=tiny&checkpoint=iter-999999", ".msg.error", "no recording of checkpoint 'iter-999999'"),
    ("?run=nope", ".msg.error", "There is no run 'nope'"),
])
def test_bad_input_is_a_message(duo, query, where, message):
    visit(duo, query)
    duo.wait_for_contains_text(where, message)
    assert duo.find_element("#f-grid")  # the page is still there


def test_a_run_without_recordings_says_how_to_record(duo, runs):
    visit(duo, "?run=empty")
    duo.wait_for_contains_text(".msg.error", f"python -m model.record {runs['empty']}")
    visit(duo, "?run=planted&concept=quotes")  # and the server still serves
    wait_summary(duo, "concept quotes")
    assert grid_rows(duo, 1) == [["1", "5", "c"]]

