"""Under a WSGI server with several workers (`CELLSCOPE_RUNS=runs gunicorn --workers 2 app:server`), in real
headless Chromium: a background job started through one worker is polled and finished through any other (its
state is in the shared disk cache), and a run created after the server started is served by every worker."""
import os
import socket
import subprocess
import sys
import time

import pytest
from selenium.webdriver.chrome.options import Options

from conftest import ROOT, free_port, real_text, synthetic_recording

TEXT = real_text("war_and_peace.txt")[:60_000]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wsgi")
    synthetic_recording(folder / "big" / "recordings" / "iter-000100", TEXT, layers=2, cells=48)
    port = free_port()
    env = dict(os.environ, CELLSCOPE_RUNS=str(folder))
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
                             "app:server"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while True:
        assert proc.poll() is None, proc.stderr.read().decode()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.time() < deadline, "gunicorn did not start"
            time.sleep(0.3)
    yield f"http://127.0.0.1:{port}", folder
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from dash.testing.browser import Browser

    options = Options()
    options.add_argument("--disable-background-networking")
    with Browser(browser="Chrome", headless=True, options=[options]) as b:
        yield b


def test_two_workers_share_background_jobs_and_see_new_runs(server, browser):
    url, folder = server
    browser.driver.get(f"{url}/find?run=big")
    browser.wait_for_element("#f-overview-btn", timeout=30).click()
    browser.wait_for_element("#f-overview-graph", timeout=120)  # polled through both workers until done
    synthetic_recording(folder / "later" / "recordings" / "iter-000100", TEXT[:3000])
    for _ in range(4):  # each load may land on either worker
        browser.driver.get(f"{url}/?run=later")
        browser.wait_for_element("#b-text .ch", timeout=30)
    assert browser.get_logs() == []
