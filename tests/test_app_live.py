"""Live runs in real headless Chromium: a served folder of runs gains the runs, checkpoints and first recordings
written after the app started, without a restart; the run selector and banner say which run is training."""
import json
import os
import shutil
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import real_text, served, synthetic_recording
from model import rundir
from viz.app import data, live

TEXT = real_text("war_and_peace.txt")[:2000]
POLL_S = live.POLL_MS / 1000


@pytest.fixture(scope="module")
def folder(tiny_run, tmp_path_factory):
    """A folder of runs: a copy of the tiny run holding only its first two recordings, and an empty run."""
    root = tmp_path_factory.mktemp("live")
    shutil.copytree(tiny_run, root / "tiny", ignore=shutil.ignore_patterns("iter-000150", ".*.lock"))
    (root / "waiting" / "checkpoints").mkdir(parents=True)
    return root


@pytest.fixture(scope="module")
def duo(folder):
    from viz.app import create_app

    with served(create_app([folder])) as duo:
        yield duo


def options_of(duo, dropdown):
    """The options of a dcc.Dropdown, opened and read from its menu."""
    duo.find_element(f"#{dropdown}").click()
    texts = [e.text for e in duo.driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-options label")]
    duo.find_element(f"#{dropdown}").send_keys(Keys.ESCAPE)
    return texts


def until(check, timeout=4 * POLL_S):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return False


def test_a_folder_serves_its_runs_by_name(folder):
    data.set_runs([folder])
    assert list(data.runs()) == ["tiny", "waiting"]
    assert data.run_dir("tiny") == folder / "tiny"
    with pytest.raises(rundir.RunError):
        data.run_dir("../tiny")


def test_a_checkpoint_recorded_while_the_page_is_open_joins_its_list(duo, folder, tiny_run):
    duo.wait_for_page(f"{duo.server.url}/?run=tiny")
    duo.wait_for_element("#b-text .ch", timeout=15)
    assert options_of(duo, "b-checkpoint") == ["iter-000050", "iter-000100"]
    recordings = folder / "tiny" / "recordings"  # written as the recorder writes: a hidden folder, then renamed
    shutil.copytree(tiny_run / "recordings" / "iter-000150", recordings / ".iter-000150.partial")
    (recordings / ".iter-000150.partial").rename(recordings / "iter-000150")
    assert until(lambda: options_of(duo, "b-checkpoint")[-1:] == ["iter-000150"])
    assert duo.find_element("#b-text .ch")  # the page was not reloaded away from its text


def test_a_run_created_after_the_app_started_shows_up_without_a_restart(duo, folder):
    duo.wait_for_page(f"{duo.server.url}/?run=tiny")
    duo.wait_for_element("#b-text .ch", timeout=15)
    assert "later" not in options_of(duo, "run-select")
    synthetic_recording(folder / "later" / "recordings" / "iter-000100", TEXT)
    assert until(lambda: "later" in options_of(duo, "run-select"))
    duo.wait_for_page(f"{duo.server.url}/?run=later")
    duo.wait_for_element("#b-text .ch", timeout=15)


def test_a_page_waiting_for_a_first_recording_opens_it_when_written(duo, folder):
    duo.wait_for_page(f"{duo.server.url}/?run=waiting")
    duo.wait_for_contains_text(".msg.error", "no recordings yet", timeout=10)
    synthetic_recording(folder / "waiting" / "recordings" / "iter-000100", TEXT)
    duo.wait_for_element("#b-text .ch", timeout=4 * POLL_S)


def test_the_selector_and_banner_say_which_run_is_training(duo, folder):
    run = folder / "tiny"
    rundir.write_progress(run, state="training", started=time.time() - 30, first_iteration=0, last_iteration=600)
    with rundir.writer_lock(run, "train"):
        log, writer = rundir.append_log(run)
        writer.writerow(dict(iteration=200, epoch=1.0, train_loss=1.875, val_loss="", bits_per_char="", lr=0.003,
                             chars_per_s=1000, elapsed_s=30))
        log.close()
        duo.wait_for_page(f"{duo.server.url}/?run=tiny")
        duo.wait_for_contains_text("#training", "Training tiny now: iteration 200, train loss 1.875", timeout=10)
        text = duo.find_element("#training").text
        assert "33% done" in text and "left" in text  # 200 of 600 iterations in 30 s: about a minute to go
        assert duo.find_element("#training .training-bar")
        assert until(lambda: "tiny · training: iteration 200, loss 1.875" in options_of(duo, "run-select"))
    rundir.write_progress(run, state="failed", error="loss became nan at iteration 210; lower --lr")
    assert until(lambda: "failed: loss became nan" in duo.find_element("#training").text)
    (run / "progress.json").unlink()


def test_training_status_is_the_lock_or_a_log_that_grew_in_the_last_minute(folder):
    log = folder / "tiny" / "log.csv"
    os.utime(log, (time.time() - 120, time.time() - 120))
    assert data.training_status(folder / "tiny") is None  # an old log and nobody holds the lock
    with rundir.writer_lock(folder / "tiny", "train"):
        status = data.training_status(folder / "tiny")
    assert status["iteration"] == float(rundir.read_log(folder / "tiny")[-1]["iteration"])
    assert json.dumps(status)  # it travels to the page as JSON
    os.utime(log)  # a trainer on another machine, writing the same disk
    assert data.training_status(folder / "tiny") is not None
    rundir.write_progress(folder / "tiny", state="done")
    assert data.training_status(folder / "tiny") is None
