"""The README's causal result: does the model use its quote cell? Ablate the best quote cell that
`viz.rank --concept quotes` finds and clamp it while sampling.

    python docs/quote_cell.py runs/wp [--checkpoint iter-006310] [--seeds 5] [--length 500]

Over the recording's whole text (the validation split): the mean loss change from ablating the cell (to 0 and to
its mean) on closing quotes (the loss of predicting a '"' that closes a quotation), on the other characters
inside quotes and outside them. Then 500 characters sampled from 5 seeds with the cell clamped to its mean
value inside quotes, to its mean value outside, and unchanged: the fraction of generated characters inside
quotes and the number of '"' generated.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from model.checkpoint import load_model  # noqa: E402  (first: it sets torch's environment)
import numpy as np  # noqa: E402

from model import rundir  # noqa: E402
from model.intervene import Change, intervene, sample_held  # noqa: E402
from model.recording import Recording  # noqa: E402
from model.sample import sample  # noqa: E402
from viz.concepts import concept_values  # noqa: E402
from viz.ranking import rank_recording  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path)
    p.add_argument("--checkpoint")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--length", type=int, default=500)
    p.add_argument("--temperature", type=float, default=1.0)
    args = p.parse_args()

    rec = Recording.open(rundir.recording_path(args.run, args.checkpoint))
    best = rank_recording(rec, "quotes", kinds=("c",)).iloc[0]
    layer, cell = int(best.layer), int(best.cell)
    print(f"{rec.checkpoint}: best quote cell {layer}:{cell} (c), AUROC {best.score:.3f}, sign {best.sign:+d}, "
          f"mean c inside {best.mean_in:+.3f}, outside {best.mean_out:+.3f}")
    model, vocab, _ = load_model(args.run, rec.checkpoint)

    inside = concept_values("quotes", rec.text)
    text = np.array(list(rec.text))
    closing = np.zeros(rec.n_chars, bool)  # position t predicts character t + 1: a '"' that closes a quote
    closing[:-1] = inside[:-1] & ~inside[1:] & (text[1:] == '"')
    groups = {"closing quotes": closing, "other chars inside quotes": inside & ~closing,
              "outside quotes": ~inside & ~closing}
    ablations = {}
    for op in ("zero", "mean"):
        out = intervene(model, rec, [Change(layer, cell, op)], 0, rec.n_chars)
        delta = out.loss_after - out.loss_before
        ablations[op] = {name: (float(np.nanmean(out.loss_before[m])), float(np.nanmean(out.loss_after[m])),
                                int(m.sum())) for name, m in groups.items()}
        ablations[op]["all"] = (float(np.nanmean(out.loss_before)), float(np.nanmean(out.loss_after)), rec.n_chars)
        print(f"\nablate {layer}:{cell} to {op}: mean loss (nats) before -> after (change), positions")
        for name, (before, after, count) in ablations[op].items():
            print(f"  {name:<26} {before:.3f} -> {after:.3f} ({after - before:+.3f}), {count:,}")
        print(f"  largest change at one position: {np.nanmax(np.abs(delta)):.2f} nats")

    held = {"inside value": float(best.mean_in), "outside value": float(best.mean_out)}
    print(f"\nsampling {args.length} chars x {args.seeds} seeds at temperature {args.temperature}, prime '\\n'")
    rows = {}
    for label, value in [("unchanged", None), *held.items()]:
        quotes, fraction = [], []
        for seed in range(args.seeds):
            if value is None:
                out = sample(model, vocab, args.length, args.temperature, "\n", seed)
            else:
                out = sample_held(model, vocab, [Change(layer, cell, "clamp", value)], args.length,
                                  args.temperature, "\n", seed)
            generated = out[1:]
            quotes.append(generated.count('"'))
            fraction.append(float(concept_values("quotes", generated).mean()))
        rows[label] = dict(value=value, quote_chars=quotes, inside_fraction=fraction)
        shown = "" if value is None else f" (c := {value:+.3f})"
        print(f"  {label + shown:<28} '\"' per sample {quotes} (mean {np.mean(quotes):.1f}); "
              f"inside quotes {np.mean(fraction):.1%}")
    print("\n" + json.dumps(dict(checkpoint=rec.checkpoint, cell=[layer, cell], auroc=float(best.score),
                                 ablations=ablations, sampling=rows)))


if __name__ == "__main__":
    main()
