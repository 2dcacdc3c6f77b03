"""Intervene on cells: re-run a checkpoint over a window of its recording with some cells' c changed and see
what the model does without them; rank every cell by how much one position's next character needs it; and the
CLI of both.

    python -m model.intervene runs/wp --cell 1:160 --ablate --where quotes
    python -m model.intervene runs/wp --matter 1234 --chars '"'
    python -m model.sample runs/wp --clamp 1:160=-1.0

The API (torch in, numpy out), for the dashboard:

    Change(layer, cell, op, value=None)     op in OPS: clamp (to value), zero, mean (ablate to 0 or to the cell's
                                            mean c over the recording), add (value), scale (by value); value is
                                            a number, or one number per window position
    parse_change("1:160", op, value=None) -> Change        parse_clamp("1:160=-1.0") -> Change (clamp)
    intervene(model, rec, changes, start, stop, active=None, from_zero=False, states=True) -> Outcome
        active: bool [stop - start], where to change (default everywhere), e.g. concept_values(id, text) > 0,
        regex_mask or span_mask over the recording's text, sliced to the window.
        Outcome: start, stop, active; loss_before, loss_after [n]; top5_ids_before/after (int32) and
        top5_p_before/after [n, 5]; with states=True, c_before/after and h_before/after [layers, cells, n] for
        every cell, to see any cell before and after (before: read from the recording); delta = after - before.
    cells_that_matter(model, rec, position, context=200, op="zero", chars="") -> DataFrame, best first:
        layer, cell, loss_before, loss_after, delta, and p_before[ch], p_after[ch] for each ch in chars
    sample_held(model, vocab, changes, length=500, temperature=1.0, prime="", seed=0, argmax=False, rec=None)
        -> str: the changes made at every step (as model.sample.sample(..., changes=changes); CLI: --clamp
        1:160=-1.0); a "mean" change takes its mean from rec

Every change is one affine edit of the cell state, c' = a c + b, at the active positions (clamp v: a=0, b=v;
zero: 0, 0; mean: 0, mean; add d: 1, d; scale f: f, 0), made inside the recording's own loop
(model.record.layer_loop), so h = o tanh(c') follows from the changed c and the change flows on in time and up
the layers exactly as a recording would compute it.
"""
import json
import re
from dataclasses import dataclass

from model.lstm import pick_device  # first: it sets torch's environment before torch loads
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from model import matmul, rundir  # noqa: E402
from model.checkpoint import load_model  # noqa: E402
from model.corpus import Vocab  # noqa: E402
from model.errors import ArgumentParser, CellscopeError, reported  # noqa: E402
from model.record import layer_fused, layer_loop, layer_weights, loop_weights, single_layers  # noqa: E402
from model.recording import TOP_K, Recording  # noqa: E402
from viz.concepts import concept_values, regex_mask, span_mask  # noqa: E402  (no torch in viz/)
from viz.text_html import GLYPHS  # noqa: E402

OPS = ("clamp", "zero", "mean", "add", "scale")
PROJECTION_ROWS = 8192  # steps x streams of input projections held at once (a 2x256 model: 32 MiB)


class InterveneError(CellscopeError):
    """An intervention that cannot be made as asked."""


@dataclass
class Change:
    layer: int
    cell: int
    op: str
    value: object = None  # a number, an array of one per window position, or None for zero and mean


def parse_change(spec, op, value=None):
    """"LAYER:CELL" and an op -> Change (ranges are checked against the model when it is used)."""
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", spec)
    if not match:
        raise InterveneError(f"cell {spec!r} is not LAYER:CELL, e.g. 1:160")
    if op not in OPS:
        raise InterveneError(f"unknown change {op!r} (one of {', '.join(OPS)})")
    if (value is None) != (op in ("zero", "mean")):
        raise InterveneError(f"{op} takes {'no' if op in ('zero', 'mean') else 'a'} value")
    if value is not None and not np.all(np.isfinite(value)):
        raise InterveneError(f"{op} {value}: not a finite number")
    return Change(int(match[1]), int(match[2]), op, value)


def parse_clamp(spec):
    """"LAYER:CELL=VALUE", model.sample's --clamp -> Change."""
    cell, _, value = spec.partition("=")
    try:
        value = float(value)
    except ValueError:
        raise InterveneError(f"--clamp {spec!r} is not LAYER:CELL=VALUE, e.g. 1:160=-1.0") from None
    return parse_change(cell, "clamp", value)


def affine(model, changes, steps=1, rec=None):
    """{layer: (a, b)}, float32 [steps, 1, H] each: the changes composed in the order given (c' = a c + b)."""
    layers, hidden, device = model.config.layers, model.config.hidden, model.embed.weight.device
    out = {}
    for ch in changes:
        if not (0 <= ch.layer < layers and 0 <= ch.cell < hidden):
            raise InterveneError(f"cell {ch.layer}:{ch.cell} out of range: {layers} layers x {hidden} cells")
        if ch.op == "mean" and rec is None:
            raise InterveneError("ablating to the mean needs a recording to take the mean over")
        value = ch.value if ch.op != "mean" else float(rec.series(ch.layer, ch.cell, "c").mean())
        value = torch.as_tensor(np.asarray(0.0 if value is None else value, np.float32), device=device)
        if value.dim() and value.shape != (steps,):
            raise InterveneError(f"{ch.op} {ch.layer}:{ch.cell}: {len(value)} values for a window of {steps}")
        ea, eb = {"clamp": (0, value), "zero": (0, 0), "mean": (0, value), "add": (1, value),
                  "scale": (value, 0)}[ch.op]
        a, b = out.setdefault(ch.layer, (torch.ones(steps, 1, hidden, device=device),
                                         torch.zeros(steps, 1, hidden, device=device)))
        a[:, 0, ch.cell] *= ea
        b[:, 0, ch.cell] = b[:, 0, ch.cell] * ea + eb
    return out


FUSED_MIN_STEPS = 8  # an unchanged stretch shorter than this goes by the loop: a fused call costs a few loop steps


def stretches(steps, active, fused):
    """A layer's steps cut into (a, b, by_fused_kernel): with fused, each stretch of at least FUSED_MIN_STEPS
    steps where active is false (nothing changed there) goes by the fused kernel, the steps between by the loop.
    active: bool [steps], or None for a layer without an edit."""
    if active is None or not fused:
        return [(0, steps, fused)]
    bounds = np.r_[0, np.flatnonzero(np.diff(active.astype(np.int8))) + 1, steps]
    out = []
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        kernel = not active[a] and b - a >= FUSED_MIN_STEPS
        if out and not kernel and not out[-1][2]:
            out[-1] = (out[-1][0], b, False)
        else:
            out.append((a, b, kernel))
    return out


class Layers:
    """A model's layers run as the recording runs them. Steps where a layer's edit is active go by the
    recording's loop (model.record.layer_loop), the one place c can be changed; with fused=True every other
    stretch of steps goes by its fused method (model.record.layer_fused: the fused kernel, then c recomputed),
    a few times fewer Python steps for one stream; without, by the loop too (faster for many streams on a CPU)."""

    def __init__(self, model, fused=False):
        self.model, self.weights = model, loop_weights(model)
        self.singles = single_layers(model) if fused else None

    @torch.no_grad()
    def run(self, x, h, c, first=0, edits=None, active=None, keep=slice(None), with_c=True):
        """Layers first.. over the steps of x: character ids [steps] when first is 0, else the h of layer
        first - 1, [steps, 1 or streams, H] (one input shared by all streams costs one projection). h and c
        [layers - first, streams, H] hold the state before the first step and are left holding the state after
        the last. edits {layer: (a, b)}, [steps or 1, streams or 1, H], are layer_loop's edit at the steps where
        active [steps] is true. Returns (c, h) of the streams `keep` at every step, [layers - first, steps,
        kept, H] each; None for keep=None, and c None without with_c (the fused kernel then skips c's
        recomputation: a third of an unchanged stretch's time)."""
        n_layers, streams, hidden = h.shape
        steps = len(x)
        edits = {k: tuple(e.expand(steps, streams, hidden) for e in ab) for k, ab in (edits or {}).items()}
        kept = len(range(streams)[keep]) if keep is not None else 0
        c_out = h.new_empty(n_layers, steps, kept, hidden) if keep is not None and with_c else None
        h_out = h.new_empty(n_layers, steps, kept, hidden) if keep is not None else None
        block = max(1, PROJECTION_ROWS // streams)  # steps at a time: bounds the projections' memory
        for t0 in range(0, steps, block):
            inp = x[t0:t0 + block]
            for k, layer in enumerate(range(first, first + n_layers)):
                hs, cs = h.new_empty(len(inp), streams, hidden), h.new_empty(len(inp), streams, hidden)
                edit, c_now = edits.get(layer), c[k]
                where = np.asarray(active[t0:t0 + len(inp)], bool) if edit else None
                for a, b, kernel in stretches(len(inp), where, self.singles is not None):
                    h_in = h[k] if not a else hs[a - 1]
                    if kernel:
                        c_now = self.fused(layer, inp[a:b], h_in, c_now, hs[a:b], cs[a:b] if with_c else None)
                    else:
                        part = edit and (list(where[a:b]), edit[0][t0 + a:t0 + b], edit[1][t0 + a:t0 + b])
                        self.loop(layer, inp[a:b], h_in, c_now, hs[a:b], cs[a:b], part)
                        c_now = cs[b - 1]
                h[k], c[k] = hs[-1], c_now
                if h_out is not None:
                    h_out[k, t0:t0 + len(inp)] = hs[:, keep]
                if c_out is not None:
                    c_out[k, t0:t0 + len(inp)] = cs[:, keep]
                inp = hs
        return c_out, h_out

    def fused(self, layer, inp, h, c, hs, cs):
        """The last c (of the stretch)."""
        x_in = self.model.embed(inp)[:, None].expand(-1, h.shape[0], -1) if layer == 0 else inp
        return layer_fused(x_in, layer_weights(self.model, layer), h, c, hs, cs, None, self.singles[layer])

    def loop(self, layer, inp, h, c, hs, cs, edit):
        w_in, w_hh_t, bias = self.weights[layer]
        if layer == 0:
            xproj = w_in[inp][:, None]
        else:
            xproj = inp.new_empty(len(inp), inp.shape[1], w_in.shape[1])
            matmul.addmm(bias, inp.flatten(0, 1), w_in, xproj.view(-1, w_in.shape[1]))
        layer_loop(xproj.expand(-1, h.shape[0], -1), w_hh_t, h, c, hs, cs, edit=edit)


def encode(model, rec, start, stop):
    """The ids of the recording's text [start, stop) (as it was recorded: the same unknown-character mapping)."""
    if len(rec.vocab) != model.config.vocab_size:
        raise InterveneError(f"the recording's vocabulary ({len(rec.vocab)} chars) is not the model's "
                             f"({model.config.vocab_size})")
    ids = Vocab(rec.vocab).encode(rec.text[start:stop], unknown=rec.meta.get("unknown"))
    return torch.as_tensor(ids, device=model.embed.weight.device)


def zero_state(model):
    """(h, c) [layers, 1, H] of zeros: where every run starts; only an LSTM has a c to change."""
    if model.config.cell != "lstm":
        raise InterveneError(f"interventions need an LSTM; this run is a {model.config.cell.upper()}")
    h = torch.zeros(model.config.layers, 1, model.config.hidden, device=model.embed.weight.device)
    return h, torch.zeros_like(h)


@torch.no_grad()
def initial_state(model, rec, start, from_zero=False):
    """(h, c) [layers, 1, H] before position start: zero at position 0, as the recording began; else the
    recording's state at start - 1, or, with from_zero, a pass of the model from a zero state at position 0
    over [0, start) (exact, and a forward over start chars)."""
    h, c = zero_state(model)
    if start == 0:
        return h, c
    if from_zero:
        ids, state = encode(model, rec, 0, start), None
        for t0 in range(0, start, 4096):  # nn.LSTM returns every step's h: a block at a time
            _, state = model.rnn(model.embed(ids[t0:t0 + 4096, None]), state)
        return state
    # the recording stores c and h as float16: this is where fp16 rounding enters (~1e-3 relative in the
    # starting state; it fades over the window as the model forgets, and clamping a cell to its recorded
    # values reproduces the recording's loss to that tolerance)
    for state, kind in ((h, "h"), (c, "c")):
        state[:, 0] = torch.as_tensor(rec.state_at(kind, start - 1), device=h.device)
    return h, c


def guesses(model, h, targets):
    """(loss [n], top-5 ids [n, 5], top-5 p [n, 5]) from the top layer's h [n, H] as a recording computes them;
    targets: the ids of the next characters, shorter than n where the text ends (NaN loss there)."""
    logp = torch.log_softmax(model.head(h).float(), -1)
    top_p, top_i = logp.topk(TOP_K, -1)
    loss = torch.full((len(h),), torch.nan, device=h.device)
    loss[:len(targets)] = -logp[torch.arange(len(targets), device=h.device), targets]
    return loss.cpu().numpy(), top_i.int().cpu().numpy(), top_p.exp().cpu().numpy()


@dataclass
class Outcome:
    """An intervention over positions [start, stop) of a recording: before (the recording) and after."""
    start: int
    stop: int
    active: np.ndarray
    loss_before: np.ndarray
    loss_after: np.ndarray
    top5_ids_before: np.ndarray
    top5_ids_after: np.ndarray
    top5_p_before: np.ndarray
    top5_p_after: np.ndarray
    c_before: np.ndarray = None  # these four: None unless asked for (intervene's states)
    c_after: np.ndarray = None
    h_before: np.ndarray = None
    h_after: np.ndarray = None

    @property
    def delta(self):
        return self.loss_after - self.loss_before


def clip_window(rec, start, stop):
    """[start, stop) clipped to the recording; an error if it holds no recorded position."""
    stop = min(stop, rec.n_chars)
    if not 0 <= start < stop:
        raise InterveneError(f"window {start}:{stop} is empty or outside the {rec.n_chars:,} recorded characters")
    return start, stop


@torch.no_grad()
def intervene(model, rec, changes, start, stop, active=None, from_zero=False, states=True):
    """Re-run the model over [start, stop) with the changes made where active (default: everywhere). states:
    also every cell's c and h before and after (what the loss and guesses alone do not need: about a third of
    the time)."""
    start, stop = clip_window(rec, start, stop)
    steps = stop - start
    active = np.ones(steps, bool) if active is None else np.asarray(active, bool)
    if active.shape != (steps,):
        raise InterveneError(f"the positions to change cover {len(active)} chars, the window {steps}")
    ids = encode(model, rec, start, stop + 1)  # the window and the character after it, where there is one
    h, c = initial_state(model, rec, start, from_zero)
    c_steps, h_steps = Layers(model, fused=True).run(ids[:steps], h, c, edits=affine(model, changes, steps, rec),
                                                     active=active, keep=slice(0, 1), with_c=states)
    loss, top_i, top_p = guesses(model, h_steps[-1, :, 0], ids[1:])
    ids_before, p_before = rec.top5_ids(start, stop)
    cells = {}
    if states:  # [layers, cells, steps], the recording's layout
        cells = dict(c_before=rec.states("c", start, stop), c_after=c_steps[..., 0, :].transpose(1, 2).cpu().numpy(),
                     h_before=rec.states("h", start, stop), h_after=h_steps[..., 0, :].transpose(1, 2).cpu().numpy())
    return Outcome(start, stop, active, rec.loss(start, stop), loss, ids_before, top_i, p_before, top_p, **cells)


@torch.no_grad()
def cells_that_matter(model, rec, position, context=200, op="zero", chars=""):
    """Every cell ranked by how much ablating it (c := 0, or its mean) over positions position - context ..
    position changes the loss of the next character there, best (largest change either way) first.

    All ablations run at once as parallel streams: group k holds one stream per cell of layer k, and starts
    at layer k from the input the unchanged run gives that layer (the layers below are the unchanged run's,
    computed once); group 0 also carries the unchanged run itself, as stream 0."""
    if not 0 <= position < rec.n_chars - 1:
        raise InterveneError(f"position {position} is outside the recording: 0..{rec.n_chars - 2} have a next "
                             "character")
    if op not in ("zero", "mean"):
        raise InterveneError(f"ablate to {op!r}? zero or mean")
    vocab = Vocab(rec.vocab)
    unknown = sorted(set(chars) - set(vocab.chars))
    if unknown:
        raise InterveneError(f"{''.join(unknown)!r}: not in the model's vocabulary")
    layers, hidden = model.config.layers, model.config.hidden
    start = max(0, position - context)
    steps = position + 1 - start
    ids = encode(model, rec, start, position + 2)
    h0, c0 = initial_state(model, rec, start)
    net, active = Layers(model), np.ones(steps, bool)
    means = (torch.as_tensor(rec.means("c"), device=h0.device) if op == "mean"
             else torch.zeros(layers, hidden, device=h0.device))
    cells = torch.arange(hidden, device=h0.device)
    x, tops = ids[:steps], []
    for k in range(layers):
        streams, first = hidden + (k == 0), int(k == 0)  # stream first + j ablates cell j of layer k
        a, b = torch.ones(streams, hidden, device=h0.device), torch.zeros(streams, hidden, device=h0.device)
        a[first + cells, cells], b[first + cells, cells] = 0, means[k]
        h, c = h0[k:].expand(-1, streams, -1).clone(), c0[k:].expand(-1, streams, -1).clone()
        _, h_steps = net.run(x, h, c, first=k, edits={k: (a[None], b[None])}, active=active,
                             keep=slice(0, 1) if k == 0 else None, with_c=False)
        if k == 0:
            unchanged = h_steps  # [layers, steps, 1, H]: the input of every later group
        if k + 1 < layers:
            x = unchanged[k]
        tops.append(h[-1])
    logp = torch.log_softmax(model.head(torch.cat(tops)).float(), -1)  # [1 + layers * H, vocab]
    loss = (-logp[:, ids[steps]]).cpu().numpy()
    table = pd.DataFrame({"layer": np.repeat(np.arange(layers), hidden), "cell": np.tile(np.arange(hidden), layers),
                          "loss_before": loss[0], "loss_after": loss[1:], "delta": loss[1:] - loss[0]})
    probs = logp.exp().cpu().numpy()
    for ch in chars:
        table[f"p_before[{ch}]"], table[f"p_after[{ch}]"] = probs[0, vocab.index[ch]], probs[1:, vocab.index[ch]]
    return table.iloc[np.argsort(-np.abs(table["delta"].to_numpy()), kind="stable")].reset_index(drop=True)


def sample_held(model, vocab, changes, length=500, temperature=1.0, prime="", seed=0, argmax=False, rec=None):
    """model.sample.sample with the changes made at every step (imported here: model.sample imports this). An
    ablation to the mean holds the cell at its mean over `rec`, the recording."""
    from model.sample import sample
    if rec is not None:
        changes = [Change(ch.layer, ch.cell, "clamp", float(rec.series(ch.layer, ch.cell, "c").mean()))
                   if ch.op == "mean" else ch for ch in changes]
    return sample(model, vocab, length, temperature, prime, seed, argmax, changes)


# ---------------------------------------------------------------------------------------------------------
# the command line

def visible(text):
    """Whitespace as the dashboard shows it."""
    return "".join(GLYPHS.get(ch, ch) for ch in text)


def positions(args, rec, start, stop):
    """The --where / --not-where / --regex / --span mask over the window (None: everywhere), and its name."""
    if args.where or args.not_where:
        inside = concept_values(args.where or args.not_where, rec.text) > 0
        mask, name = (inside, f"where {args.where}") if args.where else (~inside, f"where not {args.not_where}")
    elif args.regex is not None:
        mask, name = regex_mask(args.regex, rec.text), f"matching {args.regex!r}"
    elif args.span:
        span = re.fullmatch(r"(\d+):(\d+)", args.span)
        if not span:
            raise InterveneError(f"--span {args.span!r} is not A:B, e.g. 100:200")
        mask, name = span_mask(rec.n_chars, int(span[1]), int(span[2])), f"in {args.span}"
    else:
        return None, "everywhere"
    mask = mask[start:stop]
    if not mask.any():
        raise InterveneError(f"no position {name} in the window {start}:{stop}")
    return mask, name


def report(out, rec, changes, name, as_json):
    """Mean loss before and after, inside and outside the changed positions, and the positions that moved most."""
    rows = {"whole window": np.ones_like(out.active)}
    if not out.active.all():
        rows[f"{name} ({out.active.sum():,})"] = out.active
        rows[f"elsewhere ({(~out.active).sum():,})"] = ~out.active
    means = {label: {"before": float(np.nanmean(out.loss_before[m])), "after": float(np.nanmean(out.loss_after[m]))}
             for label, m in rows.items()}
    most = []
    for i in np.argsort(-np.nan_to_num(np.abs(out.delta), nan=-1), kind="stable")[:10]:
        p = out.start + int(i)
        most.append({"position": p, "before": float(out.loss_before[i]), "after": float(out.loss_after[i]),
                     "delta": float(out.delta[i]), "text": rec.text[max(0, p - 24):p + 1],
                     "next": rec.text[p + 1:p + 2], "then": rec.text[p + 2:p + 10]})
    if as_json:
        changed = [{"layer": c.layer, "cell": c.cell, "op": c.op, "value": c.value} for c in changes]
        print(json.dumps({"recording": rec.checkpoint, "start": out.start, "stop": out.stop, "changes": changed,
                          "positions": name, "changed_positions": int(out.active.sum()), "mean_loss": means,
                          "most_changed": most}, ensure_ascii=False))
        return
    what = ", ".join(f"{c.layer}:{c.cell} {c.op}{'' if c.value is None else f' {c.value:g}'}" for c in changes)
    print(f"{rec.checkpoint}, positions {out.start}:{out.stop}: {what} {name}")
    print(f"{'mean loss (nats)':<32}{'before':>8}{'after':>8}{'change':>9}")
    for label, m in means.items():
        print(f"  {label:<30}{m['before']:8.3f}{m['after']:8.3f}{m['after'] - m['before']:+9.3f}")
    print(f"the {len(most)} positions whose loss changed most ([x]: the character guessed):")
    for m in most:
        print(f"  {m['position']:>8}{m['before']:8.3f}{m['after']:8.3f}{m['delta']:+9.3f}   "
              f"{visible(m['text']):>25}[{visible(m['next'])}]{visible(m['then'])}")


def report_matter(table, rec, position, context, op, top, as_json):
    table = table.head(top)
    if as_json:
        print(table.to_json(orient="records", force_ascii=False))
        return
    nxt = rec.text[position + 1]
    print(f"{rec.checkpoint}, position {position} ({visible(rec.text[max(0, position - 24):position + 1])}"
          f"[{visible(nxt)}]): cells ranked by how much {'zeroing' if op == 'zero' else 'ablating to the mean'} "
          f"c over positions {max(0, position - context)}..{position} changes the loss of {visible(nxt)!r}")
    shown = table.rename(columns=lambda name: visible(name))
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def parser():
    p = ArgumentParser(prog="python -m model.intervene",
                       description="Change cells' c over a window of a recording and see what the model does "
                                   "without them, or rank every cell by how much one position needs it.")
    p.add_argument("run", help="run directory, e.g. runs/wp")
    p.add_argument("--checkpoint", help="whose recording, e.g. iter-000500 (default: the newest recording)")
    p.add_argument("--cell", action="append", default=[], metavar="LAYER:CELL", help="a cell to change (repeatable)")
    op = p.add_mutually_exclusive_group()
    op.add_argument("--clamp", type=float, metavar="V", help="hold c at V")
    op.add_argument("--ablate", nargs="?", const="zero", choices=["zero", "mean"],
                    help="c := 0 (default) or the cell's mean over the recording; with --matter, how to ablate")
    op.add_argument("--add", type=float, metavar="D", help="c := c + D")
    op.add_argument("--scale", type=float, metavar="F", help="c := F c")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--where", metavar="CONCEPT", help="change only where a concept holds (python -m viz.rank "
                                                          "RUN --list-concepts)")
    where.add_argument("--not-where", metavar="CONCEPT", help="change only where a concept does not hold")
    where.add_argument("--regex", metavar="R", help="change only inside matches of a regular expression")
    where.add_argument("--span", metavar="A:B", help="change only at positions A..B-1")
    p.add_argument("--start", type=int, default=0, help="the window: recorded positions start..stop-1")
    p.add_argument("--stop", type=int, default=5000, help="(clipped to the recording)")
    p.add_argument("--from-zero", action="store_true",
                   help="start the window from a fresh pass from position 0, not the recording's float16 state")
    p.add_argument("--matter", type=int, metavar="POSITION",
                   help="rank every cell by how much ablating it changes this position's next-character loss")
    p.add_argument("--context", type=int, default=200, help="with --matter: ablate over this many chars before")
    p.add_argument("--top", type=int, default=20, help="with --matter: show this many cells")
    p.add_argument("--chars", default="", help="with --matter: also show these characters' probabilities")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    given = [(op, v) for op, v in (("clamp", args.clamp), ("add", args.add), ("scale", args.scale)) if v is not None]
    op, value = given[0] if given else (args.ablate, None)
    if args.matter is not None:
        if args.cell or op not in (None, "zero", "mean") or args.where or args.not_where or args.regex or args.span:
            p.error("--matter ranks every cell over its context: no --cell or --where, and only --ablate zero|mean")
        if args.context < 0 or args.top < 1:
            p.error("--context must be >= 0 and --top >= 1")
    elif not args.cell or op is None:
        p.error("give --cell LAYER:CELL and one of --clamp V, --ablate, --add D, --scale F; or --matter POSITION")
    with reported():
        rundir.read_run(args.run)
        rec = Recording.open(rundir.recording_path(args.run, args.checkpoint))
        model, _, _ = load_model(args.run, rec.checkpoint, pick_device(args.device))
        if args.matter is not None:
            table = cells_that_matter(model, rec, args.matter, args.context, op or "zero", args.chars)
            report_matter(table, rec, args.matter, args.context, op or "zero", args.top, args.json)
            return
        changes = [parse_change(spec, op, value) for spec in args.cell]
        start, stop = clip_window(rec, args.start, args.stop)
        active, name = positions(args, rec, start, stop)
        out = intervene(model, rec, changes, start, stop, active, args.from_zero, states=False)
        report(out, rec, changes, name, args.json)


if __name__ == "__main__":
    main()
