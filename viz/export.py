"""Export one cell over a text window as a standalone HTML page (viz/standalone.py), from the command line.

    python -m viz.export runs/NAME --cell 1:42 --kind c --start 0 --stop 5000 [--colour loss] -o page.html
"""
import argparse
from pathlib import Path

from model import rundir
from model.errors import ArgumentParser, reported
from viz.standalone import KINDS, export_html


def cell_spec(value):
    """LAYER:CELL -> (layer, cell)."""
    layer, sep, cell = value.partition(":")
    if not (sep and layer.isdigit() and cell.isdigit()):
        raise argparse.ArgumentTypeError(f"--cell wants LAYER:CELL, e.g. 1:42 (got {value!r})")
    return int(layer), int(cell)


def main(argv=None):
    parser = ArgumentParser(prog="python -m viz.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="run directory, e.g. runs/NAME")
    parser.add_argument("--cell", required=True, type=cell_spec, metavar="LAYER:CELL", help="counted from 0")
    parser.add_argument("--kind", choices=list(KINDS), help="default: c for an LSTM, h for a GRU or RNN")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--stop", type=int, default=5000)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--checkpoint", action="append", help="e.g. iter-000500; repeat to stack (default: newest)")
    which.add_argument("--all-checkpoints", action="store_true", help="stack every recorded checkpoint")
    parser.add_argument("--top5", action="store_true", help="show the five guesses under every character")
    parser.add_argument("--colour", choices=["cell", "loss", "advantage"], default="cell",
                        help="colour the text by the cell (default), by the model's loss on each character, or by "
                             "its advantage over the n-gram (python -m viz.ngram writes that)")
    parser.add_argument("--title")
    parser.add_argument("-o", "--output", required=True, type=Path)
    args = parser.parse_args(argv)
    with reported():
        page = export_html(args.run, *args.cell, kind=args.kind, start=args.start, stop=args.stop,
                           checkpoints="all" if args.all_checkpoints else args.checkpoint, top5=args.top5,
                           title=args.title, colour=args.colour)
        rundir.atomic_write(args.output, page)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
