"""Take the README's pictures in headless Chromium: a view of the app (Browse with the hover box open by
default) or an exported standalone page.

    python docs/screenshot.py [RUN_DIR] [--query "layer=1&cell=42"] [--hover 120] [-o docs/browse.png]
    python docs/screenshot.py runs/wp2 --page /compare --wait "#cmp-rows .cmp-row, #cmp-score .scatterlayer .trace" \
        --query "layer=1&cell=70" --size 1400,3700 -o docs/compare-wp.png
    python docs/screenshot.py --html quote-cell.html -o docs/quote-cell.png
    python docs/screenshot.py runs/wp --page /compare --wait "#cmp-ngram-graph .scatterlayer .trace" \
        --element "#cmp-ngram" -o docs/closest-ngram-wp.png

Without RUN_DIR (and without --html) it shows the demo run (built on first use, like `python app.py`).
"""
import argparse
import logging
import sys
import threading
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from viz.app import create_app  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", nargs="?", type=Path, help="run directory (default: the demo run)")
    parser.add_argument("--query", default="", help="extra URL parameters, e.g. layer=1&cell=42&size=2000")
    parser.add_argument("--hover", type=int, default=120, help="position whose hover box to show (-1: none)")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "browse.png")
    parser.add_argument("--page", default="/", help="the app page to show, e.g. /compare")
    parser.add_argument("--wait", help="CSS selector that appears once a non-Browse page has drawn")
    parser.add_argument("--html", type=Path, help="screenshot this exported HTML file instead of the app")
    parser.add_argument("--size", default="1400,900", help="window width,height")
    parser.add_argument("--element", help="CSS selector of the one element to take (default: the window)")
    args = parser.parse_args()
    if args.html:
        return shoot(f"file://{args.html.resolve()}", "body", -1, args.size, args.output, args.element)
    if args.run is None:
        from demo.build import ensure_demo_run
        args.run = ensure_demo_run()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server("127.0.0.1", 0, create_app([args.run]).server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}{args.page}?run={args.run.name}&{args.query}"
        shoot(url, args.wait or BROWSE_DRAWN, args.hover if args.page == "/" else -1, args.size, args.output,
              args.element)
    finally:
        server.shutdown()


BROWSE_DRAWN = "#b-text[data-painted], #b-hist .bars, #b-excerpts .ex"


def shoot(url, selector, hover, size, output, element=None):
    """Open url, wait until every comma-separated part of selector matches, optionally hover, save a PNG (of
    the window, or of one element)."""
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", f"--window-size={size}", "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options)
    try:
        driver.get(url)
        end = time.time() + 90
        parts = [p.strip() for p in selector.split(",")]
        while not all(driver.execute_script("return !!document.querySelector(arguments[0])", p) for p in parts):
            if time.time() > end:
                sys.exit(f"docs/screenshot.py: {url} did not show {selector} within 90 s")
            time.sleep(0.2)
        time.sleep(1.0)  # let plotly finish its transitions
        if hover >= 0:
            span = driver.find_element(By.CSS_SELECTOR, f'#b-text .ch[data-i="{hover}"]')
            ActionChains(driver).move_to_element(span).perform()
            time.sleep(0.5)  # the exact value arrives with one small request
        output.parent.mkdir(parents=True, exist_ok=True)
        if element:
            driver.find_element(By.CSS_SELECTOR, element).screenshot(str(output))
        else:
            driver.save_screenshot(str(output))
    finally:
        driver.quit()
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
