"""Serve the dashboard: python app.py [runs/ | RUN_DIR ...] [--host 127.0.0.1 --port 8050] [--debug]

Each path is a run directory or a folder of them (runs that appear in it later are served too, as TensorBoard
serves a --logdir). With none it serves the bundled demo run at once: on first start the demo model trains and
records in a background process while the pages show its progress; later starts reuse it. For a WSGI server,
`server` is the Flask app of the paths in $CELLSCOPE_RUNS (separated by the OS path separator), else of the demo
run:  CELLSCOPE_RUNS=runs gunicorn --workers 2 app:server
"""
import os
from pathlib import Path

from demo import build as demo
from model.errors import ArgumentParser, reported
from viz.app import create_app


def main(argv=None):
    parser = ArgumentParser(prog="python app.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", type=Path, metavar="RUN_DIR",
                        help="run directories or folders of them (default: the demo)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument("--debug", action="store_true", help="Dash dev tools and reloading; slow with long texts")
    args = parser.parse_args(argv)
    with reported():
        app = create_app(args.runs or [demo.start()])
        app.run(host=args.host, port=args.port, debug=args.debug)


def __getattr__(name):
    """`app:server` for gunicorn/waitress, built on first access so importing this module builds nothing."""
    if name != "server":
        raise AttributeError(name)
    named = [Path(p) for p in os.environ.get("CELLSCOPE_RUNS", "").split(os.pathsep) if p]
    return create_app(named or [demo.start()]).server


if __name__ == "__main__":
    main()
