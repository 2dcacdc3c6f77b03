"""Serve the dashboard: python app.py [RUN_DIR ...] [--host 127.0.0.1 --port 8050] [--debug]

With no run directory it serves the bundled demo run (trained and recorded on first start, reused after).
For a WSGI server, `server` is the Flask app of the runs named in $CELLSCOPE_RUNS (separated by the OS path
separator), else of the demo run:  CELLSCOPE_RUNS=runs/NAME gunicorn --workers 2 app:server
"""
import os
from pathlib import Path

from model.errors import ArgumentParser, reported
from viz.app import create_app


def demo_run():
    from demo.build import ensure_demo_run
    return ensure_demo_run()


def main(argv=None):
    parser = ArgumentParser(prog="python app.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", type=Path, metavar="RUN_DIR", help="run directories (default: the demo)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument("--debug", action="store_true", help="Dash dev tools and reloading; slow with long texts")
    args = parser.parse_args(argv)
    with reported():
        app = create_app(args.runs or [demo_run()])
        app.run(host=args.host, port=args.port, debug=args.debug)


def __getattr__(name):
    """`app:server` for gunicorn/waitress, built on first access so importing this module builds nothing."""
    if name != "server":
        raise AttributeError(name)
    named = [Path(p) for p in os.environ.get("CELLSCOPE_RUNS", "").split(os.pathsep) if p]
    return create_app(named or [demo_run()]).server


if __name__ == "__main__":
    main()
