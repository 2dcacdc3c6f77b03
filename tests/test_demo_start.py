"""The demo's first start, as `python app.py` does it: the run is served at once while a background process
trains and records it; the page shows the training's progress, then the first recording as soon as it is
written. (A small recipe: the real one takes minutes.)"""
import time

import pytest

from conftest import served
from demo import build
from model import rundir

RECIPE = dict(layers=1, hidden=64, batch_size=16, seq_length=50, max_iters=400, checkpoint_every=200)


@pytest.fixture
def demo_run(tmp_path):
    run = tmp_path / "runs" / "demo"
    yield run
    deadline = time.time() + 120  # the build must not outlive the test
    while rundir.is_writing(run, "train") or rundir.is_writing(run, "record"):
        assert time.time() < deadline, "the demo build did not finish"
        time.sleep(0.5)


def test_first_start_serves_at_once_and_shows_training_then_the_first_recording(demo_run):
    from viz.app import create_app

    run = build.start(demo_run, RECIPE, record_chars=3000)
    assert run == demo_run and not build.is_ready(run)  # returned before the build: it goes on in the background
    with served(create_app([run])) as duo:
        duo.wait_for_page(f"{duo.server.url}/?run=demo")
        duo.wait_for_contains_text("#training", "Training demo now", timeout=60)
        duo.wait_for_element("#b-text .ch", timeout=90)  # the page reloaded itself onto the first recording
        assert "iteration" in duo.find_element("#training").text or build.is_ready(run)
    deadline = time.time() + 120
    while not build.is_ready(run):
        assert time.time() < deadline and rundir.read_progress(run).get("state") != "failed"
        time.sleep(0.5)
    assert list(rundir.recordings(run)) == list(rundir.checkpoints(run))
    assert build.start(run) == run  # a later start reuses the finished run and starts nothing
    assert not rundir.is_writing(run, "train")
