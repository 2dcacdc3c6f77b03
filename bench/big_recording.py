"""A big recording stays usable: a 3x512 x 1M-character recording (c and h, 6 GB) served by `python app.py`, and
what the server costs in memory and time in headless Chromium.

Measured: the server's anonymous memory (RssAnon: what the recording's pages in the page cache do not count)
after opening Browse, switching cells, ranking a concept in Find, Find's every-concept overview and opening
Compare (goal: under 300 MB); the Find ranking, from navigation to the ranked rows (goal <= 10 s); the Browse
cell switch (click to repainted colours, median); the overview, from its button to the chart, and Compare's
concept score chart, from navigation to its first point, the scores cleared first (both background jobs: the
page stays usable meanwhile). Baseline, in the same run: the server's anonymous memory before any page.
Last line: ratio=<anonymous memory after every page / before any>.

    python bench/big_recording.py [--run runs/bench-big] [--switches 10] [--port 8766]

Builds the recording on first use (bench/rank_speed.py's synthetic one: smooth random cells, a planted quote
cell 0:7 of c, its values counted as model/record.py counts a recording's) and reuses it after; its score cache
is removed first.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.corpus import real_text  # noqa: E402
from bench.dashboard_speed import chrome, wait_for  # noqa: E402
from bench.intervene_speed import cpu  # noqa: E402
from bench.rank_speed import N_CHARS, write_recording  # noqa: E402
from model import rundir, value_counts  # noqa: E402
from model.recording import Recording  # noqa: E402
from viz.concepts import concept_values  # noqa: E402


def build(run):
    """The run, its recording written first if there is none, and its values counted as model.record does."""
    if not rundir.recordings(run):
        print(f"building {run}: 3x512 x {N_CHARS:,} chars, c and h (6 GB)", flush=True)
        text = real_text(N_CHARS)
        write_recording(run / "recordings" / "iter-000100", text, concept_values("quotes", text))
    value_counts.count(Recording.open(rundir.recording_path(run)), progress=True)  # nothing if already kept
    return run


def anonymous_mb(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("RssAnon"))) / 1024


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--run", type=Path, default=ROOT / "runs" / "bench-big")
    p.add_argument("--switches", type=int, default=10)
    p.add_argument("--port", type=int, default=8766)
    args = p.parse_args()
    run = build(args.run)
    for scores in run.glob("recordings/*/scores"):  # the Find ranking is timed as a first one, not read back
        shutil.rmtree(scores)
    url = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen([sys.executable, "app.py", str(run), "--port", str(args.port)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                              env=dict(os.environ, OMP_WAIT_POLICY="PASSIVE"))
    driver = None
    memory = {}
    try:
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        memory["before any page"] = anonymous_mb(server.pid)
        driver = chrome()
        driver.get(f"{url}/?run={run.name}&layer=0&cell=0&kind=c&start=0&size=20000")
        wait_for(driver, "return window.__painted.length && window.__painted[0].frame", timeout=120)
        memory["Browse opened"] = anonymous_mb(server.pid)
        switch = []
        for k in range(args.switches + 1):  # the first switch warms the server's caches: not counted
            time.sleep(0.3)
            seen = driver.execute_script("return window.__painted.length")
            t0 = driver.execute_script("const t = performance.now(); document.getElementById('b-next').click();"
                                       "return t;")
            done = wait_for(driver, f"const p = window.__painted[{seen}]; return p && p.frame;")
            if k:
                switch.append(done - t0)
        time.sleep(1)  # the histogram and excerpts of the last cell
        memory[f"Browse, {args.switches + 1} cell switches"] = anonymous_mb(server.pid)
        began = time.time()
        driver.get(f"{url}/find?run={run.name}&concept=quotes")
        wait_for(driver, "return document.querySelectorAll('#f-grid .ag-row').length > 0", timeout=300, poll=0.25)
        find_s = time.time() - began
        memory["Find ranked quotes"] = anonymous_mb(server.pid)
        began = time.time()
        driver.find_element("id", "f-overview-btn").click()
        wait_for(driver, "return document.querySelector('#f-overview .js-plotly-plot')", timeout=1800, poll=1)
        overview_s = time.time() - began
        memory["Find overview"] = anonymous_mb(server.pid)
        for scores in run.glob("recordings/*/scores"):  # Compare's chart is timed as a first scoring too
            shutil.rmtree(scores)
        began = time.time()
        driver.get(f"{url}/compare?run={run.name}&layer=0&cell=7&kind=c&concept=quotes")
        wait_for(driver, "return document.querySelectorAll('#cmp-rows .ch').length > 0", timeout=120)
        wait_for(driver, "const g = document.querySelector('#cmp-score .js-plotly-plot');"
                 "return g && g.data && g.data.some(t => t.y && t.y.length)", timeout=600, poll=0.25)
        compare_s = time.time() - began
        memory["Compare scored"] = anonymous_mb(server.pid)
    finally:
        if driver:
            driver.quit()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()
    print(f"3x512 x {N_CHARS:,} chars (c and h), served by python app.py; {cpu()}")
    for what, mb in memory.items():
        print(f"server anonymous memory, {what}: {mb:,.0f} MB")
    print(f"most: {max(memory.values()):,.0f} MB (goal < 300 MB)")
    print(f"Find ranking of quotes, navigation to ranked rows: {find_s:.1f} s (goal <= 10 s)")
    print(f"Browse cell switch, 20,000-char window: median {statistics.median(switch):.0f} ms over {len(switch)}")
    print(f"Find overview (every concept), button to chart: {overview_s:.1f} s in the background")
    print(f"Compare, navigation to the score chart's first point (scored in the background): {compare_s:.1f} s")
    print(f"ratio={max(memory.values()) / memory['before any page']:.2f}")


if __name__ == "__main__":
    main()
