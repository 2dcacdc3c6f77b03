"""Long work off the request path: scores cached on disk beside the recording (viz.score_cache), and the
background callbacks that fill the cache, with a progress bar and a cancel button, in real headless Chromium."""
import time

import numpy as np
import pandas as pd
import pytest

from conftest import real_text, served, synthetic_recording
from viz import score_cache
from viz.concepts import CONCEPTS, concept_values
from viz.ranking import rank_recording

TEXT = real_text("war_and_peace.txt")[:60_000]


def test_cached_scores_equal_the_ranking_and_follow_a_re_recording(tmp_path):
    rec = synthetic_recording(tmp_path / "run" / "recordings" / "iter-000100", TEXT[:5000])
    fresh = score_cache.scores(rec, concept_id="quotes")
    pd.testing.assert_frame_equal(fresh, rank_recording(rec, concept_id="quotes"))
    score_cache.scores.cache_clear()
    assert score_cache.is_cached(rec, concept_id="quotes")
    pd.testing.assert_frame_equal(score_cache.scores(rec, concept_id="quotes"), fresh)  # read from disk, exactly
    assert not score_cache.is_cached(rec, concept_id="quotes", kinds=("h",))
    other = synthetic_recording(tmp_path / "other" / "recordings" / "iter-000100", TEXT[:5000], seed=1,
                                meta={"checkpoint_sha256": "another checkpoint"})
    (other.path / "scores").symlink_to(rec.path / "scores")  # the old entries, beside another recording
    assert not score_cache.is_cached(other, concept_id="quotes")
    pd.testing.assert_frame_equal(score_cache.scores(other, concept_id="quotes"),
                                  rank_recording(other, concept_id="quotes"))


@pytest.fixture(scope="module")
def duo(tmp_path_factory):
    """A run whose every-concept overview takes several seconds: time to see its progress and cancel it."""
    from viz.app import create_app

    run = tmp_path_factory.mktemp("jobs") / "big"
    synthetic_recording(run / "recordings" / "iter-000100", TEXT, layers=2, cells=96)
    with served(create_app([run])) as duo:
        duo.run = run
        yield duo


def cached_entries(run):
    return len(list((run / "recordings" / "iter-000100" / "scores").glob("*.json")))


def test_the_find_overview_runs_in_the_background_and_can_be_cancelled(duo):
    duo.wait_for_page(f"{duo.server.url}/find?run=big")
    duo.wait_for_element("#f-overview-btn").click()
    duo.wait_for_style_to_equal("#f-overview-job", "display", "flex", timeout=10)
    duo.wait_for_element("#f-concept")  # the page stays usable meanwhile
    duo.find_element("#f-overview-cancel").click()
    duo.wait_for_style_to_equal("#f-overview-job", "display", "none", timeout=10)
    time.sleep(2)
    stopped = cached_entries(duo.run)
    assert stopped < len(CONCEPTS)  # the job stopped before scoring every concept
    time.sleep(3)
    assert cached_entries(duo.run) == stopped
    assert not duo.driver.find_elements("css selector", "#f-overview-graph")

    duo.find_element("#f-overview-btn").click()  # asked again, it runs to the end, reusing what was scored
    duo.wait_for_element("#f-overview-graph", timeout=120)
    scorable = sum(len(np.unique(concept_values(c, TEXT))) > 1 for c in CONCEPTS)  # not constant on the text
    assert cached_entries(duo.run) == scorable
