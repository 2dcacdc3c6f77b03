"""How fast does Browse flip cells? Real headless Chromium against the app served in this process.

    python bench/dashboard_speed.py [RUN_DIR] [--window 20000] [--switches 30]

Without RUN_DIR it makes a synthetic 2x256 recording over real War and Peace text. It measures, in the browser's
own clock (performance.now): a cell switch (click "next") until the recoloured text has been painted (the next
animation frame after the spans' classes changed), against rendering the same window fresh as a page (navigation
until the coloured spans have been painted). Bytes per switch are the callback responses' body sizes, recorded
by the server. Goals: <= 150 ms per switch, <= 2 bytes per character on the wire. Last line: ratio=switch/fresh.
"""
import argparse
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from flask import request
from selenium import webdriver
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.corpus import real_text  # noqa: E402
from model import rundir  # noqa: E402
from model.recording import Recording, RecordingWriter  # noqa: E402
from viz.app import create_app  # noqa: E402

# Installed before any page script runs: timestamps every change of #b-text's data-painted attribute, at the
# change itself and once the frame showing it has been painted (a task after the next animation frame).
OBSERVER = """
window.__painted = [];
new MutationObserver(records => {
  for (const r of records) {
    const key = r.target.getAttribute('data-painted'), dom = performance.now();
    if (!key) continue;
    requestAnimationFrame(() => setTimeout(() => window.__painted.push({key, dom, frame: performance.now()})));
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-painted']});
"""


def synthetic_run(root, n_chars, layers=2, cells=256):
    """A run whose one recording holds smooth random activations over real text (the text is what matters)."""
    text = real_text(n_chars, start=20_000)
    vocab = sorted(set(text))
    rng = np.random.default_rng(0)
    w = RecordingWriter(root / "synthetic" / "recordings" / "iter-001000", text, vocab, layers, cells, ("c", "h"),
                        {"checkpoint": "iter-001000", "iteration": 1000})
    for layer in range(layers):
        walk = np.cumsum(rng.normal(0, 0.3, (cells, n_chars)), axis=1)
        c = 2 * np.sin(walk / 3)
        w.states["c"][layer] = c
        w.states["h"][layer] = np.tanh(c) * rng.uniform(0.3, 1, (cells, 1))
    w.top5_ids[...] = rng.integers(0, len(vocab), (n_chars, 5))
    w.top5_p[...] = np.sort(rng.dirichlet(np.ones(5), n_chars), axis=1)[:, ::-1]
    w.loss[...] = rng.exponential(1.3, n_chars)
    w.finish()
    return root / "synthetic"


def serve(app):
    """The app on a free loopback port in a daemon thread; records each callback response's size."""
    sizes = []

    @app.server.after_request
    def record_size(response):
        if request.path.endswith("_dash-update-component"):
            output = (request.get_json(silent=True) or {}).get("output", "")
            sizes.append((time.perf_counter(), output, response.calculate_content_length() or 0))
        return response

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server, sizes


def chrome():
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": OBSERVER})
    return driver


def wait_for(driver, condition_js, timeout=60, poll=0.01):
    """Poll: every call costs the browser and the driver CPU, so a wait of seconds polls less often."""
    end = time.time() + timeout
    while time.time() < end:
        found = driver.execute_script(condition_js)
        if found:
            return found
        time.sleep(poll)
    raise TimeoutError(condition_js)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", nargs="?", type=Path, help="a run directory (default: a synthetic 2x256 recording)")
    parser.add_argument("--window", type=int, default=20_000)
    parser.add_argument("--switches", type=int, default=30)
    parser.add_argument("--fresh", type=int, default=5, help="fresh page renders to time")
    parser.add_argument("--view", choices=["browse", "compare"], default="browse",
                        help="compare: 8 checkpoints x 5,000 characters in the Compare view (see compare_main)")
    args = parser.parse_args()
    if args.view == "compare":
        return compare_main(args)

    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or synthetic_run(Path(tmp), args.window + 5_000)
        checkpoint, path = list(rundir.recordings(run).items())[-1]
        rec = Recording.open(path)
        layers, cells = rec.layers, rec.cells
        url, server, sizes = serve(create_app([run]))
        driver = chrome()
        try:
            page = f"{url}/?run={run.name}&checkpoint={checkpoint}&layer=0&cell=0&kind=c&start=0&size={args.window}"
            fresh = []
            for _ in range(args.fresh + 1):  # the first load also fills the browser's cache: not counted
                driver.get(page)
                fresh.append(wait_for(driver, "return window.__painted.length && window.__painted[0].frame"))
            fresh = fresh[1:]
            n_chars = driver.execute_script("return document.querySelectorAll('#b-text .ch').length")

            switch, level_bytes, switch_bytes = [], [], []
            for k in range(args.switches + 1):  # the first switch warms the server's caches: not counted
                time.sleep(0.3)  # let the previous switch's histogram and excerpts land
                before = len(sizes)
                seen = driver.execute_script("return window.__painted.length")
                t0 = driver.execute_script("const t = performance.now(); document.getElementById('b-next').click();"
                                           "return t;")
                key = f"|{(k + 1) // cells % layers}|{(k + 1) % cells}|c|"
                done = wait_for(driver, f"const p = window.__painted.slice({seen}).find(p => p.key.includes('{key}'));"
                                        "return p && p.frame;")
                time.sleep(0.3)
                if k == 0:
                    continue
                switch.append(done - t0)
                new = sizes[before:]
                level_bytes.append(sum(size for _, output, size in new if "b-values.data" in output))
                switch_bytes.append(sum(size for _, _, size in new))
        finally:
            driver.quit()
            server.shutdown()

    switch_ms, fresh_ms = statistics.median(switch), statistics.median(fresh)
    print(f"recording {run.name} {checkpoint}, window of {n_chars:,} characters, headless Chromium")
    print(f"fresh page render (navigation to painted colours): median {fresh_ms:.0f} ms over {len(fresh)}"
          f" ({', '.join(f'{t:.0f}' for t in fresh)})")
    print(f"cell switch (click to painted colours): median {switch_ms:.0f} ms, "
          f"p90 {np.percentile(switch, 90):.0f} ms over {len(switch)}")
    print(f"bytes per switch, colour levels: {statistics.median(level_bytes):,.0f} "
          f"({statistics.median(level_bytes) / n_chars:.2f} per character)")
    print(f"bytes per switch, all callbacks (levels + histogram + excerpts): {statistics.median(switch_bytes):,.0f} "
          f"({statistics.median(switch_bytes) / n_chars:.2f} per character)")
    print(json.dumps({"switch_ms": round(switch_ms, 1), "fresh_ms": round(fresh_ms, 1), "chars": n_chars,
                      "level_bytes_per_char": round(statistics.median(level_bytes) / n_chars, 3)}))
    print(f"ratio={switch_ms / fresh_ms:.4f}")




# ---------------------------------------------------------------------------------------------------------
# Compare view (written by the compare helper): python bench/dashboard_speed.py --view compare [RUN_DIR]
# A cell switch recolours one row per checkpoint: 8 checkpoints x 5,000 characters. Goal: <= 300 ms.

COMPARE_CHECKPOINTS, COMPARE_WINDOW = 8, 5_000


def synthetic_checkpoints(root, n_chars, checkpoints=COMPARE_CHECKPOINTS, layers=2, cells=128):
    """A run with one recording per checkpoint, all over the same real text, activations sharpening with
    iteration as a trained cell's do."""
    text = real_text(n_chars, start=20_000)
    vocab = sorted(set(text))
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.normal(0, 0.3, (layers, cells, n_chars)), axis=2)
    for k in range(checkpoints):
        iteration = 100 * (k + 1)
        w = RecordingWriter(root / "synthetic" / "recordings" / f"iter-{iteration:06d}", text, vocab, layers, cells,
                            ("c", "h"), {"checkpoint": f"iter-{iteration:06d}", "iteration": iteration,
                                         "val_loss": 3.0 / (k + 1)})
        c = (k + 1) / 2 * np.sin(walk / 3) + rng.normal(0, 1, walk.shape) / (k + 1)
        w.states["c"][...] = c
        w.states["h"][...] = np.tanh(c)
        w.top5_ids[...] = rng.integers(0, len(vocab), (n_chars, 5))
        w.top5_p[...] = np.sort(rng.dirichlet(np.ones(5), n_chars), axis=1)[:, ::-1]
        w.loss[...] = rng.exponential(1.3, n_chars)
        w.finish()
    return root / "synthetic"


def compare_main(args):
    """Cell switch in the Compare view (click "next" until every row's new colours are painted), against a
    fresh render of the same page (navigation until the coloured rows are painted). Last line:
    ratio=switch/fresh."""
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or synthetic_checkpoints(Path(tmp), COMPARE_WINDOW)
        url, server, sizes = serve(create_app([run]))
        driver = chrome()
        try:
            page = f"{url}/compare?run={run.name}&layer=0&cell=0&kind=c&start=0&size={COMPARE_WINDOW}"
            fresh = []
            for _ in range(args.fresh + 1):  # the first load fills the browser's and the server's caches
                driver.get(page)
                fresh.append(wait_for(driver, "return window.__painted.length && window.__painted[0].frame"))
            fresh = fresh[1:]
            rows = driver.execute_script("return document.querySelectorAll('#cmp-rows .cmp-text').length")
            n_chars = driver.execute_script("return document.querySelectorAll('#cmp-rows .ch').length")

            switch, level_bytes = [], []
            for k in range(args.switches + 1):  # the first switch warms the concept-score cache: not counted
                time.sleep(0.3)  # let the previous switch's charts land
                before = len(sizes)
                seen = driver.execute_script("return window.__painted.length")
                t0 = driver.execute_script("const t = performance.now(); document.getElementById('cmp-next').click();"
                                           "return t;")
                done = wait_for(driver, f"const p = window.__painted[{seen}]; return p && p.frame;")  # next paint
                time.sleep(0.3)
                if k == 0:
                    continue
                switch.append(done - t0)
                level_bytes.append(sum(size for _, output, size in sizes[before:] if "cmp-levels.data" in output))
        finally:
            driver.quit()
            server.shutdown()

    switch_ms, fresh_ms = statistics.median(switch), statistics.median(fresh)
    print(f"Compare view of {run.name}: {rows} checkpoints, {n_chars:,} characters in all, headless Chromium")
    print(f"fresh page render (navigation to painted colours): median {fresh_ms:.0f} ms over {len(fresh)}")
    print(f"cell switch (click to every row painted): median {switch_ms:.0f} ms, "
          f"p90 {np.percentile(switch, 90):.0f} ms over {len(switch)} (goal <= 300 ms)")
    print(f"bytes per switch, colour levels: {statistics.median(level_bytes):,.0f} "
          f"({statistics.median(level_bytes) / n_chars:.2f} per character)")
    print(json.dumps({"view": "compare", "switch_ms": round(switch_ms, 1), "fresh_ms": round(fresh_ms, 1),
                      "rows": rows, "chars": n_chars}))
    print(f"ratio={switch_ms / fresh_ms:.4f}")


if __name__ == "__main__":
    main()
