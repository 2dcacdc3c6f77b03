"""Intervene: change cells' c over a text window and see where the model does worse or better without them;
which cells one character's guess needs; what the model writes with and without the change.

The reading of a cell that Browse suggests ("this one tracks quotes") is a guess until changing the cell
changes what the model does. The window's uncoloured spans are sent once per window (viz.text_html, as Browse
does) and assets/intervene.js inserts them and paints them, through the painter of assets/cellscope.js, on the
Δloss scale of viz.colors (classes d0..d20); changing the intervention re-runs the model over the window
(model.intervene; a spinner shows while it runs) and sends only the new levels, the guesses after and the
positions changed. The URL carries the intervention (?run=&checkpoint=&layer=&cell=&op=&value=
&where=&concept=&regex=&span=&start=&size=&layer2=&cell2=&pos=), so a view can be shared.

model/ loads torch, and viz/ never imports it when a page loads (tests/test_conventions.py): the model code is
imported inside the callbacks, on the first intervention.
"""
import functools
import math
from types import SimpleNamespace
from urllib.parse import urlencode

import dash
import numpy as np
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from model.errors import CellscopeError
from viz import concepts
from viz.app import data
from viz.app.common import (b64, chosen_view, int_param, labeled, notice, recorded_window, register_steppers,
                            window_bounds, window_controls)
from viz.app.live import follow_checkpoints
from viz.app.textview import hover_data
from viz.colors import DELTA_RANGE, N_LEVELS, delta_levels
from viz.intervention_html import intervention_page
from viz.text_html import render_text

dash.register_page(__name__, path="/intervene", name="Intervene", title="cellscope · intervene", order=3)

DEFAULT_SIZE = 2000
SIZES = [500, 1000, 2000, 5000, 10000]
OPS = {"clamp": "clamp to", "zero": "ablate (c := 0)", "mean": "ablate (c := its mean)", "add": "add",
       "scale": "scale by"}  # model.intervene.OPS, as the page names them
VALUED = ("clamp", "add", "scale")  # the ops that take the slider's value
WHERE = {"all": "the whole window", "concept": "where the concept holds", "not": "where it does not",
         "regex": "inside a regex's matches", "span": "in a span A:B"}
DEFAULT_OP, DEFAULT_CONCEPT = "zero", "quotes"
PRIME, MAX_SAMPLE = 200, 2000  # characters before the window that prime the samples by default; most sampled
MATTER_CONTEXT, MATTER_ROWS = 200, 20  # cells_that_matter ablates over this many characters; rows shown
PERCENTILES = (5, 25, 50, 75, 95)


@functools.lru_cache(maxsize=4)
def _model(run_dir, checkpoint):
    """(model, vocab) of a checkpoint, loaded once: every slider move asks for an intervention."""
    from model.checkpoint import load_model  # torch loads here, on first use, never when viz/ is imported
    model, vocab, _ = load_model(run_dir, checkpoint)
    return model, vocab


def _number(raw):
    """A finite float from a URL or a control; None for nothing; a CellscopeError for anything else."""
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise CellscopeError(f"value={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise CellscopeError(f"value={raw!r} is not a finite number")
    return value


def _cells(layer, cell, layer2, cell2):
    """[(layer, cell)] of the view: the first cell, and the second where one is given."""
    if layer is None or cell is None:
        raise CellscopeError("choose a layer and type a cell number")
    return [(int(layer), int(cell))] + ([] if layer2 is None or cell2 is None else [(int(layer2), int(cell2))])


def describe(changes, positions):
    """How an intervention reads in the summary, the export and the samples' heading."""
    cells, op, value = " and ".join(f"{ch.layer}:{ch.cell}" for ch in changes), changes[0].op, changes[0].value
    return f"cell {cells}: {OPS[op]}{'' if value is None else f' {value:g}'}, {positions}"


def compute(run, checkpoint, cells, op, value, where, concept, regex, span, start, size):
    """(recording, model.intervene.Outcome, changes, what they are) of a view's intervention; a CellscopeError
    for anything that cannot be done as asked."""
    from model.intervene import intervene, parse_change, positions  # torch: see the module docstring
    rec = data.open_recording(run, checkpoint)
    model, _ = _model(data.run_dir(run), rec.checkpoint)
    changes = [parse_change(f"{layer}:{cell}", op, _number(value) if op in VALUED else None) for layer, cell in cells]
    start, stop = window_bounds(start, size, rec.n_chars, DEFAULT_SIZE, SIZES[-1])
    if where in ("regex", "span") and not {"regex": regex, "span": span}[where]:
        raise CellscopeError(f"type the {where} of the positions to change, or change the whole window")
    # the CLI's --where / --not-where / --regex / --span, so both pick positions alike
    chosen = {"concept": {"where": concept}, "not": {"not_where": concept}, "regex": {"regex": regex},
              "span": {"span": span}}.get(where, {})
    args = SimpleNamespace(**{"where": None, "not_where": None, "regex": None, "span": None, **chosen})
    active, name = positions(args, rec, start, stop)
    return rec, intervene(model, rec, changes, start, stop, active, states=False), changes, describe(changes, name)


def top5_after(rec, out):
    """The guesses after the change as (chars, probs), the form Recording.top5 gives the guesses before."""
    return [[rec.vocab[i] for i in row] for row in out.top5_ids_after.tolist()], out.top5_p_after


def stretches(mask):
    """[[a, b), ...] of the true runs of a bool array."""
    edges = np.diff(np.concatenate([[0], np.asarray(mask, np.int8), [0]]))
    return np.stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)], axis=1).tolist()


def slider(rec, layer, cell, op, value):
    """The value slider of an op on a cell: {min, max, step, marks, disabled, value} and a line on the cell's
    range. Clamping spans the cell's recorded c (its percentiles marked), adding spans that width either way,
    scaling -2..3; the value defaults to one that does something (clamping: the extreme farther from the
    median; adding: the p5..p95 width; scaling: 2) and the range stretches to hold a value from the URL."""
    c = rec.series(layer, cell, "c")
    lo, hi = float(c.min()), float(c.max())
    pct = np.percentile(c, PERCENTILES)
    width = max(hi - lo, 1e-3)  # a constant cell still gets a slider
    if op == "scale":
        lo, hi, marks, default = -2.0, 3.0, {k: str(k) for k in range(-2, 4)}, 2.0
    elif op == "add":
        lo, hi, default = -width, width, pct[4] - pct[0]
        marks = {-width: f"{-width:.2g}", 0: "0", width: f"+{width:.2g}"}
    else:
        # p25 and p75 as dots: the middle percentiles of a peaked cell sit too close for labels
        marks = {float(v): f"p{p}" if p in (5, 50, 95) else "·" for p, v in zip(PERCENTILES, pct)}
        default = lo if pct[2] - lo > hi - pct[2] else hi
    step = 10.0 ** math.floor(math.log10(max(hi - lo, 1e-3) / 200))
    value = round(float(default if value is None else value), max(0, -math.floor(math.log10(step))))
    lo, hi = min(lo, value), max(hi, value)
    line = (f"c of {layer}:{cell} over the recording: min {c.min():+.3f}, "
            + ", ".join(f"p{p} {v:+.3f}" for p, v in zip(PERCENTILES, pct)) + f", max {c.max():+.3f}, "
            f"mean {c.mean():+.3f}")
    return {"min": lo, "max": hi, "step": step, "marks": marks, "disabled": op not in VALUED, "value": value}, line


def layout(run=None, checkpoint=None, layer=None, cell=None, layer2=None, cell2=None, op=None, value=None,
           where=None, concept=None, regex=None, span=None, start=None, size=None, pos=None, **_other_pages_params):
    """The page for the URL's intervention; a bad parameter is explained and replaced by its default."""
    view = chosen_view(run, checkpoint, layer, cell, start, size, DEFAULT_SIZE, SIZES[-1])
    if not isinstance(view, tuple):
        return view
    problems, run, found, checkpoint, rec, layer, cell, start, size = view
    if rec.cell != "lstm":
        return notice(f"Interventions change an LSTM's cell state c; run {run} is a {rec.cell.upper()}, which has "
                      "none. Browse, Find and Compare show its cells.")
    layer2 = int_param("layer2", layer2, None, 0, rec.layers - 1, problems)
    cell2 = int_param("cell2", cell2, None, 0, rec.cells - 1, problems)
    pos = int_param("pos", pos, None, 0, max(rec.n_chars - 2, 0), problems)
    if op is not None and op not in OPS:
        problems.append(f"op={op!r} is not a change this page makes (one of {', '.join(OPS)}); showing {DEFAULT_OP}.")
    op = op if op in OPS else DEFAULT_OP
    try:
        value = _number(value)
    except CellscopeError as e:
        problems.append(f"{e}; showing the default value.")
        value = None
    if where is not None and where not in WHERE:
        problems.append(f"where={where!r} is not one of {', '.join(WHERE)}; changing the whole window.")
    where = where if where in WHERE else "all"
    if concept is not None and concept not in concepts.CONCEPTS:
        problems.append(f"There is no concept {concept!r}; showing {DEFAULT_CONCEPT}.")
    concept = concept if concept in concepts.CONCEPTS else DEFAULT_CONCEPT
    return html.Div(className="intervene", children=[
        dcc.Store(id="iv-run", data=run),
        dcc.Store(id="iv-shape", data={"layers": rec.layers, "cells": rec.cells}),
        dcc.Store(id="iv-pos", data=pos),
        dcc.Store(id="iv-window"),
        dcc.Download(id="iv-download"),
        notice(*problems) if problems else None,
        _change_controls(rec, found, checkpoint, layer, cell, layer2, cell2, op, value),
        _where_controls(where, concept, regex, span),
        _window_controls(rec, start, size),
        *[html.Div(id=name) for name in ("iv-window-msg", "iv-change-msg", "iv-export-msg")],
        _legend(),
        html.Div(className="main", children=[
            dcc.Loading(type="dot", delay_show=150, overlay_style={"visibility": "visible", "opacity": 0.5},
                        target_components={"iv-change": "data"},
                        children=[dcc.Store(id="iv-change"), html.Div(id="iv-text", className="cs-text text-window")]),
            html.Aside(className="side", children=[
                html.H3("At the character under the pointer"),
                html.Div(id="iv-at", className="where", children="Hover a character for its loss and top-5 "
                                                                 "guesses before and after the change."),
                html.H3("Which cells matter here?"),
                dcc.Loading(type="dot", children=html.Div(id="iv-matter")),
            ]),
        ]),
        _generation_controls(),
    ])


def _change_controls(rec, found, checkpoint, layer, cell, layer2, cell2, op, value):
    """What is changed: checkpoint, the cell (and a second one), the operation and its value (the slider's
    range comes with the cell, from configure_value)."""
    return html.Div(children=[
        html.Div(className="controls", children=[
            labeled("checkpoint", dcc.Dropdown(id="iv-checkpoint", options=found, value=checkpoint,
                                               clearable=False)),
            labeled("layer", dcc.Dropdown(id="iv-layer", options=list(range(rec.layers)), value=layer,
                                          clearable=False)),
            labeled("cell", html.Span(className="stepper", children=[
                html.Button("◀", id="iv-prev", title="previous cell"),
                dcc.Input(id="iv-cell", type="number", min=0, max=rec.cells - 1, step=1, value=cell, debounce=True),
                html.Button("▶", id="iv-next", title="next cell"),
            ])),
            labeled("and layer", dcc.Dropdown(id="iv-layer2", options=list(range(rec.layers)), value=layer2,
                                              placeholder="–")),
            labeled("cell", dcc.Input(id="iv-cell2", type="number", min=0, max=rec.cells - 1, step=1, value=cell2,
                                      debounce=True, placeholder="none")),
            dcc.RadioItems(id="iv-op", options=[{"label": label, "value": name} for name, label in OPS.items()],
                           value=op, inline=True),
        ]),
        html.Div(className="controls", children=[
            labeled("value", html.Div(dcc.Slider(id="iv-value", value=value, tooltip={"placement": "bottom"}),
                                      style={"width": "36em"})),
            html.Span(id="iv-range", className="where"),
        ]),
    ])


def _where_controls(where, concept, regex, span):
    """Where the change is made: everywhere, where a concept holds or does not, a regex's matches, a span."""
    return html.Div(className="controls", children=[
        labeled("change it", dcc.RadioItems(id="iv-where", value=where, inline=True,
                                            options=[{"label": v, "value": k} for k, v in WHERE.items()])),
        labeled("concept", dcc.Dropdown(id="iv-concept", value=concept, clearable=False, style={"minWidth": "14em"},
                                        options=[{"label": c.id, "value": c.id, "title": c.description}
                                                 for c in concepts.CONCEPTS.values()])),
        labeled("regex", dcc.Input(id="iv-regex", type="text", value=regex, debounce=True,
                                   placeholder="e.g. [A-Z]\\w+")),
        labeled("span", dcc.Input(id="iv-span", type="text", value=span, debounce=True, placeholder="A:B")),
    ])


def _window_controls(rec, start, size):
    """Which text is shown: start (with page buttons), window size; export."""
    return html.Div(className="controls", children=[
        *window_controls("iv", rec, start, size, SIZES, where="where-shown"),
        html.Button("Export HTML", id="iv-export", title="download the recoloured window as a standalone page"),
    ])


def _legend():
    """The Δloss scale, and the summary of the change (which shows a spinner while the model runs)."""
    swatch = {"display": "inline-block", "width": "1.1em", "height": "1em"}
    return html.Div(className="controls", children=[
        html.Span([f"loss after − before: {-DELTA_RANGE:+g} nats (better) ",
                   *[html.Span(className=f"d{k}", style=swatch) for k in range(N_LEVELS)],
                   f" {DELTA_RANGE:+g} nats (worse); underlined: the positions changed"], className="where"),
        dcc.Loading(type="dot", children=html.Div(id="iv-summary")),
    ])


def _generation_controls():
    """Samples from a prime with and without the change, same seed."""
    return html.Div(children=[
        html.H3("What the model writes with and without the change (same seed; the change made at every step)",
                className="section"),
        html.Div(className="controls", children=[
            dcc.RadioItems(id="iv-prime-from", value="window", inline=True, options=[
                {"label": f"prime: the {PRIME} characters before the window", "value": "window"},
                {"label": "typed:", "value": "typed"}]),
            dcc.Textarea(id="iv-prime", placeholder="a prime of your own", style={"width": "24em", "height": "2.4em"}),
            labeled("characters", dcc.Input(id="iv-length", type="number", min=1, max=MAX_SAMPLE, step=1, value=300,
                                            debounce=True)),
            labeled("temperature", dcc.Input(id="iv-temperature", type="number", min=0.05, max=5, step=0.05,
                                             value=1.0, debounce=True)),
            labeled("seed", dcc.Input(id="iv-seed", type="number", min=0, step=1, value=0, debounce=True)),
        ]),
        dcc.Loading(type="dot", children=html.Div(id="iv-samples")),
    ])


def _window_key(run, checkpoint, start, stop):
    return f"{run}|{checkpoint}|{start}|{stop}"


@callback(Output("iv-window", "data"), Output("iv-where-shown", "children"), Output("iv-window-msg", "children"),
          Input("iv-checkpoint", "value"), Input("iv-start", "value"), Input("iv-size", "value"),
          State("iv-run", "data"))
def send_window(checkpoint, start, size, run):
    """The window's uncoloured spans, once per (checkpoint, window), with the recording's guesses and loss."""
    try:
        rec, start, stop, chars, probs = recorded_window(run, checkpoint, start, size, DEFAULT_SIZE, SIZES[-1])
    except CellscopeError as e:
        return no_update, "", notice(str(e))
    window = {"key": _window_key(run, checkpoint, start, stop), "start": start, "stop": stop,
              "html": render_text(rec.window(start, stop), offset=start),
              **hover_data(chars, probs, rec.loss(start, stop))}
    return window, f"characters {start:,} to {stop:,} of {rec.n_chars:,}", None


@callback(Output("iv-value", "min"), Output("iv-value", "max"), Output("iv-value", "step"),
          Output("iv-value", "marks"), Output("iv-value", "disabled"), Output("iv-value", "value"),
          Output("iv-range", "children"),
          Input("iv-checkpoint", "value"), Input("iv-layer", "value"), Input("iv-cell", "value"),
          Input("iv-op", "value"), State("iv-value", "value"), State("iv-run", "data"))
def configure_value(checkpoint, layer, cell, op, value, run):
    """The slider over the cell's recorded range; a new cell or op starts from its own default value (the URL's
    value is kept on the first call)."""
    try:
        rec = data.open_recording(run, checkpoint)
        layer, cell = _cells(layer, cell, None, None)[0]
        rec.check_cell(layer, cell)
        config, line = slider(rec, layer, cell, op, value if ctx.triggered_id is None else None)
    except CellscopeError:
        return (no_update,) * 7  # the intervention's own callback says what is wrong
    return (*(config[k] for k in ("min", "max", "step", "marks", "disabled", "value")), line)


@callback(Output("iv-change", "data"), Output("iv-summary", "children"), Output("iv-change-msg", "children"),
          Input("iv-checkpoint", "value"), Input("iv-layer", "value"), Input("iv-cell", "value"),
          Input("iv-layer2", "value"), Input("iv-cell2", "value"), Input("iv-op", "value"), Input("iv-value", "value"),
          Input("iv-where", "value"), Input("iv-concept", "value"), Input("iv-regex", "value"),
          Input("iv-span", "value"), Input("iv-start", "value"), Input("iv-size", "value"), State("iv-run", "data"))
def send_change(checkpoint, layer, cell, layer2, cell2, op, value, where, concept, regex, span, start, size, run):
    """Re-run the model over the window with the change: the Δloss level of each character (all a new value
    sends), the guesses and loss after, the positions changed, and the mean change over the window."""
    try:
        cells = _cells(layer, cell, layer2, cell2)
        rec, out, changes, what = compute(run, checkpoint, cells, op, value, where, concept, regex, span, start, size)
    except CellscopeError as e:
        return no_update, None, notice(str(e))
    change = {"key": f"{_window_key(run, checkpoint, out.start, out.stop)}|{what}",
              "window": _window_key(run, checkpoint, out.start, out.stop),
              "checkpoint": checkpoint, "start": out.start, "sampled": describe(changes, "at every step"),
              "changes": [[ch.layer, ch.cell, ch.op, ch.value] for ch in changes],
              "levels": b64(delta_levels(out.delta)), "marks": [] if out.active.all() else stretches(out.active),
              **hover_data(*top5_after(rec, out), out.loss_after)}
    return change, _summary(out, what), None


def _summary(out, what):
    """Mean loss before and after over the window, and at the changed positions vs elsewhere (inside vs
    outside the concept, when a concept chose them)."""
    rows = [("the whole window", np.ones_like(out.active))]
    if not out.active.all():
        rows += [(f"the {out.active.sum():,} positions changed", out.active),
                 (f"the {(~out.active).sum():,} elsewhere", ~out.active)]
    parts = []
    for label, mask in rows:
        before, after = np.nanmean(out.loss_before[mask]), np.nanmean(out.loss_after[mask])
        parts.append(html.Li(f"{label}: {before:.3f} → {after:.3f} nats, Δ {after - before:+.3f}"))
    return html.Div([html.B(what), html.Span(" · mean loss per character over"), html.Ul(parts)], id="iv-means")


@callback(Output("iv-samples", "children"), Input("iv-change", "data"), Input("iv-prime-from", "value"),
          Input("iv-prime", "value"), Input("iv-length", "value"), Input("iv-temperature", "value"),
          Input("iv-seed", "value"), State("iv-run", "data"))
def generate(change, prime_from, typed, length, temperature, seed, run):
    """N characters from the prime with and without the change, from the same seed."""
    if not change:
        return None
    # torch: see the module docstring
    from model.intervene import Change, sample_held
    from model.sample import sample
    try:
        if length is None or not 1 <= length <= MAX_SAMPLE or temperature is None or seed is None:
            raise CellscopeError(f"give a number of characters (1 to {MAX_SAMPLE:,}), a temperature and a seed")
        rec = data.open_recording(run, change["checkpoint"])
        model, vocab = _model(data.run_dir(run), rec.checkpoint)
        prime = (typed or "") if prime_from == "typed" else rec.text[max(0, change["start"] - PRIME):change["start"]]
        args = (int(length), float(temperature), prime, int(seed))
        plain = sample(model, vocab, *args)[-int(length):]
        held = sample_held(model, vocab, [Change(*ch) for ch in change["changes"]], *args, rec=rec)[-int(length):]
    except CellscopeError as e:
        return notice(str(e))
    same = next((i for i, (a, b) in enumerate(zip(plain, held)) if a != b), None)
    verdict = ("The change does not alter this sample: both are the same." if same is None else
               f"The two agree for the first {same:,} characters, then part.")
    return html.Div(id="iv-sample-pair", children=[
        html.P([html.Span("prime: ", className="label"), html.Code(prime[-80:] or "(the model's default)"),
                f" · {verdict}"], className="where"),
        html.Div(className="cmp-panels", children=[
            html.Div([html.B("without the change"), html.Pre(plain, id="iv-sample-before")], className="cmp-sample"),
            html.Div([html.B(f"with the change ({change['sampled']})"), html.Pre(held, id="iv-sample-after")],
                     className="cmp-sample"),
        ]),
    ])


@callback(Output("iv-matter", "children"), Input("iv-pos", "data"), Input("iv-checkpoint", "value"),
          State("iv-op", "value"), State("iv-start", "value"), State("iv-size", "value"), State("iv-run", "data"))
def show_matter(pos, checkpoint, op, start, size, run):
    """Every cell ranked by how much ablating it changes the loss of the clicked character's next one; each row
    opens the cell in Browse over this window."""
    if pos is None:
        return html.P("Click a character: every cell ranked by how much ablating it (over the "
                      f"{MATTER_CONTEXT} characters before) changes the model's loss on the next one.",
                      className="where")
    from model.intervene import cells_that_matter  # torch: see the module docstring
    ablate, pos = "mean" if op == "mean" else "zero", int(pos)
    try:
        rec = data.open_recording(run, checkpoint)
        model, _ = _model(data.run_dir(run), rec.checkpoint)
        table = cells_that_matter(model, rec, pos, MATTER_CONTEXT, ablate).head(MATTER_ROWS)
    except CellscopeError as e:
        return notice(str(e))
    start, _ = window_bounds(start, size, rec.n_chars, DEFAULT_SIZE, SIZES[-1])
    pad = {"padding": "0.1em 0.6em", "textAlign": "right"}
    browse = {"run": run, "checkpoint": checkpoint}
    rows = [html.Tr([html.Td(html.A(f"{r.layer}:{r.cell}", title="open this cell in Browse", href="/?" + urlencode(
                         {**browse, "layer": r.layer, "cell": r.cell, "start": start})), style=pad),
                     html.Td(f"{r.loss_before:.3f} → {r.loss_after:.3f}", style=pad),
                     html.Td(f"{r.delta:+.3f}", style=pad)])
            for r in table.itertuples()]
    return html.Div([
        html.P(f"Position {pos:,}, the guess of {rec.text[pos + 1]!r}: each cell in turn, {OPS[ablate]} over "
               f"positions {max(0, pos - MATTER_CONTEXT):,}..{pos:,}; largest change first.", className="where"),
        html.Table([html.Thead(html.Tr([html.Th(h, style=pad) for h in ("cell", "loss (nats)", "Δ")])),
                    html.Tbody(rows)], id="iv-matter-table"),
    ])


@callback(Output("iv-download", "data"), Output("iv-export-msg", "children"), Input("iv-export", "n_clicks"),
          State("iv-run", "data"), State("iv-checkpoint", "value"), State("iv-layer", "value"),
          State("iv-cell", "value"), State("iv-layer2", "value"), State("iv-cell2", "value"), State("iv-op", "value"),
          State("iv-value", "value"), State("iv-where", "value"), State("iv-concept", "value"),
          State("iv-regex", "value"), State("iv-span", "value"), State("iv-start", "value"), State("iv-size", "value"),
          prevent_initial_call=True)
def export_view(_, run, checkpoint, layer, cell, layer2, cell2, op, value, where, concept, regex, span, start, size):
    """The recoloured window as a standalone page, the before/after guesses in each character's title."""
    try:
        cells = _cells(layer, cell, layer2, cell2)
        rec, out, _, what = compute(run, checkpoint, cells, op, value, where, concept, regex, span, start, size)
    except CellscopeError as e:
        return no_update, notice(f"Export failed: {e}")
    delta = np.nanmean(out.delta)
    legend = {"run": run, "checkpoint": checkpoint, "change": what,
              "characters": f"{out.start} to {out.stop} of {rec.n_chars}",
              "mean change": f"{np.nanmean(out.loss_before):.3f} → {np.nanmean(out.loss_after):.3f} nats per "
                             f"character (Δ {delta:+.3f})",
              "colour": "the change in the loss of the next character: purple = better with the change, white = "
                        "no change, orange = worse; hover a character for its loss and guesses before and after"}
    page = intervention_page(f"{run} · {what}", legend, rec.window(out.start, out.stop), out.start,
                             rec.top5(out.start, out.stop), top5_after(rec, out), out.loss_before, out.loss_after)
    filename = f"{run}-{checkpoint}-intervene-" + "-".join(f"{layer}-{cell}" for layer, cell in cells) + f"-{op}.html"
    return {"content": page, "filename": filename, "type": "text/html"}, None


# The browser side: assets/intervene.js paints the window, shows the hovered character's guesses, sends a clicked
# position and keeps the URL in step; the steppers are assets/cellscope.js's.
clientside_callback(ClientsideFunction("intervene", "paint"), Input("iv-window", "data"), Input("iv-change", "data"),
                    Input("iv-pos", "data"))
register_steppers("iv")
clientside_callback(ClientsideFunction("intervene", "syncUrl"),
                    Input("iv-checkpoint", "value"), Input("iv-layer", "value"), Input("iv-cell", "value"),
                    Input("iv-layer2", "value"), Input("iv-cell2", "value"), Input("iv-op", "value"),
                    Input("iv-value", "value"), Input("iv-where", "value"), Input("iv-concept", "value"),
                    Input("iv-regex", "value"), Input("iv-span", "value"), Input("iv-start", "value"),
                    Input("iv-size", "value"), Input("iv-pos", "data"), State("iv-value", "disabled"),
                    State("iv-run", "data"))
follow_checkpoints("iv-checkpoint", "iv-run")
