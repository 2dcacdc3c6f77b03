"""The demo's first start, as a new user meets it: `python app.py` in a fresh clone of the committed main.

Measured: the seconds until the server answers its first HTTP request (goal <= 10 s, while the demo model
trains in the background), and until the first checkpoint's recording is written (goal <= 60 s; an open page
shows it on its next poll, at most 3 s later), and until the demo is finished. Baseline, in the same run: the
same clone's `python app.py EMPTY_FOLDER`, the server's own start-up with nothing to build.
Last line: ratio=<first answer with the demo building / first answer of the bare server>.

    python bench/first_start.py [--port 8765] [--wait-done]
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.intervene_speed import cpu  # noqa: E402
from model import rundir  # noqa: E402


def serve(clone, port, *args):
    """`python app.py ARGS` in the clone, in its own process group (the demo build it starts goes with it)."""
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    return subprocess.Popen([sys.executable, "app.py", "--port", str(port), *args], cwd=clone, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def first_answer(url, proc, began, limit=120):
    while time.time() - began < limit:
        assert proc.poll() is None, "the server exited"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.time() - began
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"no answer from {url} in {limit} s")


def until(check, began, limit):
    while time.time() - began < limit:
        if check():
            return time.time() - began
        time.sleep(0.2)
    return float("nan")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--wait-done", action="store_true", help="also wait for the whole demo (about 4 minutes)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "cellscope"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        (clone / "empty").mkdir()
        url = f"http://127.0.0.1:{args.port}/"

        began = time.time()
        bare = serve(clone, args.port, "empty")
        try:
            bare_s = first_answer(url, bare, began)
        finally:
            os.killpg(bare.pid, signal.SIGTERM)
            bare.wait()

        run = clone / "runs" / "demo"
        began = time.time()
        demo = serve(clone, args.port)
        try:
            first_s = first_answer(url, demo, began)
            recorded_s = until(lambda: bool(rundir.recordings(run)), began, 180)
            done_s = until(lambda: (rundir.read_progress(run).get("state") == "done"
                                    and not rundir.is_writing(run, "record")), began, 600) if args.wait_done else None
        finally:
            os.killpg(demo.pid, signal.SIGTERM)
            demo.wait()
    print(f"python app.py in a fresh clone; {cpu()}")
    print(f"bare server (an empty folder): first answer after {bare_s:.1f} s")
    print(f"first start of the demo: first answer after {first_s:.1f} s (goal <= 10), first recording written "
          f"after {recorded_s:.1f} s (goal <= 60)" + (f", demo finished after {done_s:.0f} s" if done_s else ""))
    print(f"ratio={first_s / bare_s:.2f}")


if __name__ == "__main__":
    main()
