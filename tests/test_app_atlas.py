"""The Atlas view in real headless Chromium: on a recording with planted detectors the fractions, the best cells
and the heatmap show them, a click on a square opens that cell in Browse; bad input is a notice."""
import shutil

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import served, synthetic_recording
from test_atlas import TEXT, planted


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("atlas")
    rec = planted(root)  # root/run/recordings/iter-000500: 0:3 c quotes, 1:5 h line position, 1:1 c uppercase
    synthetic_recording(rec.path.parent / "iter-000100", TEXT)  # an earlier checkpoint: noise only
    broken = root / "broken" / "recordings" / "iter-000100"
    shutil.copytree(rec.path, broken)
    with open(broken / "c.npy", "r+b") as f:
        f.truncate(1000)
    (root / "empty").mkdir()
    return {"run": rec.path.parents[1], "broken": broken.parents[1], "empty": root / "empty"}


@pytest.fixture(scope="module")
def duo(runs):
    from viz.app import create_app

    app = create_app([runs["run"], runs["broken"], runs["empty"]])
    with served(app) as duo:
        yield duo


def visit(duo, query):
    duo.reset_log_timestamp()
    duo.wait_for_page(f"{duo.server.url}/atlas{query}")


def test_the_atlas_shows_the_planted_cells_and_a_click_opens_one_in_browse(duo):
    visit(duo, "?run=run")
    duo.wait_for_element("#a-heatmap .js-plotly-plot", timeout=30)
    duo.wait_for_contains_text("#a-fractions", "layer 0 6.2% · layer 1 12.5% · all 9.4% (3 of 32 cells)")
    best = {r.find_element(By.TAG_NAME, "th").text: r.find_element(By.TAG_NAME, "td").text
            for r in duo.find_elements("#a-best tbody tr")}
    assert best["quotes"] == "0:3 c" and best["uppercase"] == "1:1 c" and best["line-position"] == "1:5 h"
    columns, rows, ticks = duo.driver.execute_script("""
        const gd = document.querySelector('#a-heatmap .js-plotly-plot');
        return [gd.data.map(t => t.x), gd.data[0].y, gd._fullLayout.yaxis.ticktext];""")
    assert "quotes" in columns[0] and "line-position" in columns[1]  # one trace per metric
    assert rows[0] == "0:3 c" and ticks[0].startswith("quotes (")  # heads the first group, its concept's

    drag, dx, dy = duo.driver.execute_script("""
        const gd = document.querySelector('#a-heatmap .js-plotly-plot'), L = gd._fullLayout;
        const drag = gd.querySelector('.nsewdrag');
        drag.scrollIntoView({block: 'center'});
        const box = drag.getBoundingClientRect(), r = gd.getBoundingClientRect();
        const x = L.xaxis.l2p(L.xaxis._categories.indexOf('quotes')) + L._size.l + r.left;
        const y = L.yaxis.l2p(L.yaxis._categories.indexOf('0:3 c')) + L._size.t + r.top;
        return [drag, x - (box.left + box.width / 2), y - (box.top + box.height / 2)];""")
    ActionChains(duo.driver).move_to_element(drag).move_by_offset(round(dx), round(dy)).click().perform()
    WebDriverWait(duo.driver, 10).until(lambda d: d.find_elements(By.ID, "b-label"))
    duo.wait_for_text_to_equal("#b-label", "layer 0 · cell 3 · tanh(c)")
    assert "layer=0&cell=3&kind=c&concept=quotes" in duo.driver.current_url
    assert duo.get_logs() == []


def test_another_checkpoint_is_its_own_atlas_and_the_url_names_it(duo):
    visit(duo, "?run=run&checkpoint=iter-999999")
    duo.wait_for_contains_text(".msg.error", "no recording of checkpoint 'iter-999999'")
    duo.wait_for_contains_text("#a-fractions", "all 9.4%", timeout=30)  # the newest instead
    duo.select_dcc_dropdown("#a-checkpoint", "iter-000100")
    duo.wait_for_contains_text("#a-fractions", "all 0.0% (0 of 32 cells)", timeout=30)
    WebDriverWait(duo.driver, 5).until(lambda d: "checkpoint=iter-000100" in d.current_url)
    assert duo.get_logs() == []


@pytest.mark.parametrize("query, message", [
    ("?run=empty", "python -m model.record"),
    ("?run=broken", "iter-000100"),
    ("?run=nope", "There is no run 'nope'"),
])
def test_bad_input_is_a_notice(duo, query, message):
    visit(duo, query)
    duo.wait_for_contains_text(".msg.error", message, timeout=30)
