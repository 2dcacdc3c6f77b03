"""Take the README's picture of the Browse view in headless Chromium, with the hover box open.

    python docs/screenshot.py [RUN_DIR] [--query "layer=1&cell=42"] [--hover 120] [-o docs/browse.png]

Without RUN_DIR it shows the demo run (built on first use, like `python app.py`).
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
    args = parser.parse_args()
    if args.run is None:
        from demo.build import ensure_demo_run
        args.run = ensure_demo_run()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server("127.0.0.1", 0, create_app([args.run]).server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--window-size=1400,900", "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options)
    try:
        driver.get(f"http://127.0.0.1:{server.server_port}/?run={args.run.name}&{args.query}")
        end = time.time() + 60
        while not driver.execute_script("return document.querySelector('#b-text[data-painted]') &&"
                                        " document.querySelector('#b-hist .bars') &&"
                                        " document.querySelector('#b-excerpts .ex')"):
            if time.time() > end:
                sys.exit("docs/screenshot.py: the page did not finish drawing within 60 s")
            time.sleep(0.1)
        if args.hover >= 0:
            span = driver.find_element(By.CSS_SELECTOR, f'#b-text .ch[data-i="{args.hover}"]')
            ActionChains(driver).move_to_element(span).perform()
            time.sleep(0.5)  # the exact value arrives with one small request
        args.output.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.output))
    finally:
        driver.quit()
        server.shutdown()
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
