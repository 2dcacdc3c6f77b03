"""The README's long-range picture: the LSTM's advantage over the n-gram at each closing delimiter against the
distance to its opener (Karpathy, Johnson & Fei-Fei 2015, figure 6), over one recording of a run.

    python docs/long_range.py runs/wp [--checkpoint iter-006310] [-o docs/long-range-wp.png]

Needs the n-gram's loss beside the recording (python -m viz.ngram runs/NAME). Prints the mean advantage in each
distance bin of each delimiter, with how many closers it averages, and draws viz.ngram.long_range_figure with
those counts on its points. Plotly's own static export needs kaleido, which cellscope does not install, so the
figure is drawn in headless Chromium by docs/screenshot.py's shoot().
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from model import rundir  # noqa: E402
from model.recording import Recording  # noqa: E402
from screenshot import shoot  # noqa: E402  (docs/, this script's folder)
from viz.ngram import long_range, long_range_figure  # noqa: E402

WIDTH, HEIGHT = 900, 580  # the window; headless Chromium keeps about 140 px of it for itself


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path)
    p.add_argument("--checkpoint", help="the recording to show (default: the newest)")
    p.add_argument("-o", "--output", type=Path)
    args = p.parse_args()

    rec = Recording.open(rundir.recording_path(args.run, args.checkpoint))
    ngram = rec.beside("ngram_loss")
    if ngram is None:
        sys.exit(f"error: {rec.path} has no n-gram loss; make it with: python -m viz.ngram {args.run} "
                 f"--checkpoint {rec.checkpoint}")
    order = json.loads((rec.path / "ngram.json").read_text(encoding="utf-8"))["best_order"]
    fig = long_range_figure(long_range(rec.text, ngram, rec.loss()))
    print(f"{args.run.name} {rec.checkpoint}, {rec.n_chars:,} characters: mean n-gram (order {order}) loss − LSTM "
          "loss at the closer, nats, per distance from its opener")
    for trace in fig.data:
        print(f"  {trace.name}")
        for (lo, hi, count), mean in zip(trace.customdata, trace.y):
            print(f"    {int(lo):>4}-{int(hi):<4} chars  {mean:+.3f}  ({int(count)} closers)")
        trace.update(mode="lines+markers+text", text=[f"{int(c)}" for _, _, c in trace.customdata],
                     textposition="top center", cliponaxis=False, textfont={"size": 10, "color": "#555"})
    fig.layout.height = None  # the page's: the window's viewport, less the body's margin
    fig.update_layout(margin={"l": 75, "t": 50},
                      title={"text": f"{args.run.name} {rec.checkpoint}: the LSTM's advantage over the order-{order} "
                                     "n-gram at closing delimiters (labels: closers averaged)",
                             "font": {"size": 13}, "x": 0.02})
    output = args.output or Path(__file__).resolve().parent / f"long-range-{args.run.name}.png"
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "long_range.html"
        fig.write_html(page, include_plotlyjs=True, config={"displayModeBar": False, "staticPlot": True},
                       default_width="100%", default_height="calc(100vh - 20px)")
        shoot(f"file://{page}", ".scatterlayer .trace", -1, f"{WIDTH},{HEIGHT}", output)


if __name__ == "__main__":
    main()
