"""Compare: one cell at every checkpoint of a run, to watch a detector (of quotes, of line ends...) appear.

Within a run a cell keeps its index through training, so cell 1:17 at iteration 100 and at 2,000 is the same
unit. The same text window is shown once per checkpoint, stacked, each row coloured by the cell at that
iteration, as Browse colours its window: the rows' uncoloured spans (viz.text_html) travel once per window,
identical texts once, and the browser inserts them (assets/compare.js); a cell switch sends only one base64
colour level per character per row and the painter of assets/cellscope.js restyles the spans that changed.
The chosen concept is underlined in every row, and hovering a character shows Browse's hover box.
Around the rows: the top-5 guesses at a chosen position at each checkpoint, the concept's score against
iteration, the loss curve, the samples written at each checkpoint and, with two runs served, the cell of the
other run that moves most like this one (viz.matching).
"""
import json
from html import escape
from urllib.parse import urlencode

import dash
import numpy as np
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, dcc, html, no_update

from model.errors import CellscopeError
from model.rundir import iteration_of
from viz import concepts
from viz.app import data
from viz.app.common import (b64, cell_and_window, choose_recording, int_param, job_arguments, job_controls, labeled,
                            notice, register_steppers, window_bounds)
from viz.app.live import follow_checkpoints
from viz.app.textview import concept_marks, hover_data
from viz.colors import KIND_LABELS, N_LEVELS, display_values, prob_shade, quantize, value_range
from viz.figures import closest_ngram_order, loss_curve, score_vs_iteration
from viz.matching import match_cells, matching_kind
from viz import score_cache
from viz.text_html import GLYPHS, render_text

dash.register_page(__name__, path="/compare", name="Compare", title="cellscope · compare", order=2)

DEFAULT_SIZE = 2000
SIZES = [500, 1000, 2000, 5000, 10000]
DEFAULT_CONCEPT = "quotes"
CONTEXT = 40  # characters of text shown before the position whose guesses are tabled
LINES_PER_CHUNK = 4
PAD = {"padding": "0.15em 0.6em", "textAlign": "left"}


def shown_checkpoints(run, chosen, problems=None):
    """The chosen checkpoints whose recordings open, oldest first: an unreadable one is one missing row (and one
    line in `problems`, which only the window's callback asks for), never a page without rows."""
    found = data.recordings(run)
    shown = []
    for checkpoint in sorted((c for c in chosen or [] if c in found), key=iteration_of):
        try:
            data.open_recording(run, checkpoint)
            shown.append(checkpoint)
        except CellscopeError as e:
            if problems is not None:
                problems.append(f"{e} Record it again with: python -m model.record {data.run_dir(run)} "
                                f"--checkpoint {checkpoint} --force")
    return shown


def in_chunks(spans, lines=LINES_PER_CHUNK):
    """Wrap every few lines of viz.text_html's spans in a block that the browser can skip styling and painting
    while it is scrolled out of view (content-visibility; the page's script hides the chunks far from the
    scrolled-to lines): a cell switch then costs what is on screen, not 8 rows x 5,000 characters (measured:
    5x less style and paint time). The renderer ends each line with <br> (escaped text never holds one), and a
    block boundary breaks the line just as that <br> did."""
    split = spans.split("<br>")
    if split[-1] == "":  # text ending in a newline: no empty chunk after it
        split.pop()
    return "".join(f'<div class="cmp-chunk" style="content-visibility: auto; contain-intrinsic-size: auto '
                   f'{1.5 * lines}em">' + "<br>".join(split[i:i + lines]) + "</div>"
                   for i in range(0, len(split), lines))


def window_key(run, checkpoints, start, size):
    """Names one stack of text windows; the colour levels carry it so the browser never mixes two windows."""
    return f"{run}|{','.join(checkpoints)}|{int(start or 0)}|{int(size or DEFAULT_SIZE)}"


def layout(run=None, layer=None, cell=None, kind=None, start=None, size=None, concept=None, pos=None,
           checkpoints=None, **_other_pages_params):
    """The page for the URL's view; a bad parameter is explained and replaced by its default."""
    problems = []
    chosen = choose_recording(run, None, problems, " --all-checkpoints")
    if not isinstance(chosen, tuple):
        return chosen
    run, found, _ = chosen
    readable = shown_checkpoints(run, found)  # the rows' notice says why any other one is missing
    if not readable:
        return notice(f"No recording of {run} can be opened. Record them again with:",
                      html.Pre(f"python -m model.record {data.run_dir(run)} --all-checkpoints --force",
                               className="command"))
    rec = data.open_recording(run, readable[-1])
    chosen = found
    if checkpoints:
        asked = checkpoints.split(",")
        chosen = [c for c in found if c in asked] or found
        if len(chosen) < len(asked):
            problems.append(f"Some of checkpoints={checkpoints!r} are not recorded in {run} "
                            f"(recorded: {', '.join(found)}).")
    layer, cell, start, size = cell_and_window(rec, layer, cell, start, size, DEFAULT_SIZE, SIZES[-1], problems)
    pos = int_param("pos", pos, None, 0, max(rec.n_chars - 1, 0), problems)
    if kind is not None and kind not in rec.kinds:
        problems.append(f"kind={kind!r} is not recorded here (recorded: {', '.join(rec.kinds)}); "
                        f"showing {rec.kinds[0]}.")
    kind = kind if kind in rec.kinds else rec.kinds[0]
    if concept is not None and concept not in concepts.CONCEPTS:
        problems.append(f"There is no concept {concept!r}; showing {DEFAULT_CONCEPT}.")
    concept = concept if concept in concepts.CONCEPTS else DEFAULT_CONCEPT
    return html.Div(className="compare", children=[
        dcc.Store(id="cmp-run", data=run),
        dcc.Store(id="cmp-all", data=found),
        dcc.Store(id="cmp-shape", data={"layers": rec.layers, "cells": rec.cells}),
        *[dcc.Store(id=name) for name in ("cmp-window", "cmp-levels", "cmp-marks", "cmp-painted", "cmp-hover-req",
                                          "cmp-hover")],
        notice(*problems) if problems else None,
        html.Div(className="controls", children=[
            labeled("checkpoints", dcc.Dropdown(id="cmp-checkpoints", options=found, value=chosen, multi=True,
                                                 clearable=False, style={"minWidth": "24em"})),
        ]),
        _cell_controls(rec, layer, cell, kind),
        _window_controls(rec, start, size),
        html.Div(id="cmp-window-msg"),
        html.Div(id="cmp-levels-msg"),
        html.Div(id="cmp-rows", className="cmp-rows"),
        html.P("Rows scroll together; the concept chosen below is underlined in every row (a yes/no one). Click a "
               "character to see each checkpoint's guesses for the next one.", className="where"),
        html.Div(className="cmp-panels", children=[
            _guesses_panel(rec, pos),
            _concept_panel(concept),
            html.Div([html.H3("Loss", className="section"),
                      dcc.Graph(id="cmp-loss", config={"displayModeBar": False})]),
            html.Div([html.H3("Which n-gram is the model closest to?", className="section"),
                      html.Div(id="cmp-ngram")]),
            html.Div([html.H3("Match this cell in another run", className="section"), _match_panel(run)]),
        ]),
        html.H3("Samples written at each checkpoint", className="section"),
        html.Div(id="cmp-samples", className="cmp-samples"),
    ])


def _cell_controls(rec, layer, cell, kind):
    """Which cell colours the rows: layer, cell (with its stepper), kind."""
    return html.Div(className="controls", children=[
        labeled("layer", dcc.Dropdown(id="cmp-layer", options=list(range(rec.layers)), value=layer,
                                       clearable=False)),
        labeled("cell", html.Span(className="stepper", children=[
            html.Button("◀", id="cmp-prev", title="previous cell"),
            dcc.Input(id="cmp-cell", type="number", min=0, max=rec.cells - 1, step=1, value=cell,
                      style={"width": "7em"}),
            html.Button("▶", id="cmp-next", title="next cell"),
        ])),
        labeled("kind", dcc.RadioItems(id="cmp-kind", options=[{"label": KIND_LABELS[k], "value": k}
                                                                for k in rec.kinds], value=kind, inline=True)),
        html.Span(id="cmp-label", className="cell-label"),
    ])


def _window_controls(rec, start, size):
    """Which text the rows show: start (with page buttons) and window size."""
    return html.Div(className="controls", children=[
        labeled("start", dcc.Input(id="cmp-start", type="number", min=0, max=max(rec.n_chars - 1, 0), step=1,
                                    value=start, debounce=True, style={"width": "8em"})),
        html.Button("◀ page", id="cmp-page-prev"),
        html.Button("page ▶", id="cmp-page-next"),
        labeled("window", dcc.Dropdown(id="cmp-size", options=sorted({*SIZES, size}), value=size, clearable=False)),
        html.Span(id="cmp-where", className="where"),
    ])


def _guesses_panel(rec, pos):
    return html.Div([
        html.H3("Top-5 guesses for the next character", className="section"),
        labeled("position", dcc.Input(id="cmp-pos", type="number", min=0, max=max(rec.n_chars - 1, 0), step=1,
                                       value=pos, debounce=True, style={"width": "8em"})),
        html.Div(id="cmp-guesses"),
    ])


def _concept_panel(concept):
    return html.Div([
        html.H3("Concept score against iteration", className="section"),
        labeled("concept", dcc.Dropdown(id="cmp-concept", value=concept, clearable=False,
                                         options=[{"label": c.id, "value": c.id, "title": c.description}
                                                  for c in concepts.CONCEPTS.values()])),
        job_controls("cmp-score"),
        html.Div(id="cmp-score-msg"),
        dcc.Store(id="cmp-scored"),
        dcc.Graph(id="cmp-score", config={"displayModeBar": False}),
    ])


def _match_panel(run):
    """Run B and its checkpoint to match this cell in, or how to serve a second run."""
    other_runs = [n for n in data.runs() if n != run]
    if not other_runs:
        return html.P("Serve a second run (python app.py runs/A runs/B) to find its cell that moves most like this "
                      "one over the same text.", className="where")
    return html.Div([
        html.Div(className="controls", children=[
            labeled("run B", dcc.Dropdown(id="cmp-match-run", options=other_runs, value=other_runs[0],
                                           clearable=False)),
            labeled("checkpoint B", dcc.Dropdown(id="cmp-match-checkpoint", clearable=False)),
        ]),
        dcc.Loading(html.Div(id="cmp-match-result"), delay_show=400),
    ])


@callback(Output("cmp-window", "data"), Output("cmp-where", "children"), Output("cmp-window-msg", "children"),
          Input("cmp-checkpoints", "value"), Input("cmp-start", "value"), Input("cmp-size", "value"),
          State("cmp-run", "data"))
def send_window(checkpoints, start, size, run):
    """Every row's uncoloured spans, once per window; rows over identical text share one HTML string."""
    problems = []
    checkpoints = shown_checkpoints(run, checkpoints, problems)
    if not checkpoints:
        return no_update, "", notice(*problems or ["Choose at least one recorded checkpoint."])
    texts, rows = {}, []
    try:
        for checkpoint in checkpoints:
            rec = data.open_recording(run, checkpoint)
            a, b = window_bounds(start, size, rec.n_chars, DEFAULT_SIZE, SIZES[-1])
            loss = data.val_loss(run, rec)
            name = escape(checkpoint) if rec.iteration is None else f"iter {rec.iteration:,}"
            head = f"<b>{name}</b><br>val loss {'–' if loss is None else f'{loss:.3f}'}"
            window = rec.window(a, b)
            if (a, window) not in texts:
                texts[(a, window)] = len(texts)
            rows.append({"checkpoint": checkpoint, "head": head, "text": texts[(a, window)]})
    except CellscopeError as e:
        return no_update, "", notice(str(e))
    html_once = [in_chunks(render_text(window, offset=a)) for a, window in texts]
    win = {"key": window_key(run, checkpoints, start, size), "rows": rows, "html": html_once}
    return (win, f"characters {a:,} to {b:,} of {rec.n_chars:,}, {len(rows)} checkpoints",
            notice(*problems) if problems else None)


@callback(Output("cmp-levels", "data"), Output("cmp-label", "children"), Output("cmp-levels-msg", "children"),
          Input("cmp-checkpoints", "value"), Input("cmp-layer", "value"), Input("cmp-cell", "value"),
          Input("cmp-kind", "value"), Input("cmp-start", "value"), Input("cmp-size", "value"),
          State("cmp-run", "data"))
def send_levels(checkpoints, layer, cell, kind, start, size, run):
    """The cell's colour level per character of every row: all a cell switch sends."""
    checkpoints = shown_checkpoints(run, checkpoints)
    if not checkpoints or layer is None or cell is None:
        return no_update, "", None
    lo, hi = value_range(kind)
    levels = []
    try:
        for checkpoint in checkpoints:
            rec = data.open_recording(run, checkpoint)
            a, b = window_bounds(start, size, rec.n_chars, DEFAULT_SIZE, SIZES[-1])
            levels.append(b64(quantize(display_values(rec.series(int(layer), int(cell), kind, a, b), kind), lo, hi)))
    except CellscopeError as e:
        return no_update, "", notice(str(e))
    key = window_key(run, checkpoints, start, size)
    return ({"window": key, "key": f"{key}|{layer}|{cell}|{kind}", "layer": layer, "cell": cell, "kind": kind,
             "label": KIND_LABELS[kind], "lo": lo, "step": (hi - lo) / N_LEVELS, "levels": levels},
            f"layer {layer} · cell {cell} · {KIND_LABELS[kind]}", None)


@callback(Output("cmp-marks", "data"), Input("cmp-checkpoints", "value"), Input("cmp-start", "value"),
          Input("cmp-size", "value"), Input("cmp-concept", "value"), State("cmp-run", "data"))
def send_marks(checkpoints, start, size, concept, run):
    """The concept's stretches in every row, to underline."""
    checkpoints = shown_checkpoints(run, checkpoints)
    rows = []
    try:
        for checkpoint in checkpoints:
            rec = data.open_recording(run, checkpoint)
            rows.append(concept_marks(rec.text, concept, *window_bounds(start, size, rec.n_chars, DEFAULT_SIZE,
                                                                        SIZES[-1])))
    except CellscopeError:
        return no_update
    key = window_key(run, checkpoints, start, size)
    return {"window": key, "key": f"{key}|{concept}", "rows": rows}


@callback(Output("cmp-hover", "data"), Input("cmp-hover-req", "data"), State("cmp-run", "data"),
          prevent_initial_call=True)
def send_hover(req, run):
    """One row's hover data, asked for on its first hover after a cell switch: the cell's raw values, and the
    row's guesses and loss when the browser has none for this window yet."""
    try:
        rec = data.open_recording(run, req["checkpoint"])
        a, b = window_bounds(req["start"], req["stop"] - req["start"], rec.n_chars, DEFAULT_SIZE, SIZES[-1])
        raw = rec.series(int(req["layer"]), int(req["cell"]), req["kind"], a, b)
    except CellscopeError:
        return no_update
    hover = {"window": req["window"], "key": req["key"], "row": req["row"], "values": b64(raw.astype("<f4"))}
    if req["guesses"]:
        chars, probs = rec.top5(a, b)
        hover.update(hover_data(chars, probs, rec.loss(a, b)))
    return hover


def _glyph(ch):
    return GLYPHS.get(ch, ch)


@callback(Output("cmp-guesses", "children"), Input("cmp-checkpoints", "value"), Input("cmp-pos", "value"),
          Input("cmp-start", "value"), State("cmp-run", "data"))
def guesses_table(checkpoints, pos, start, run):
    """At one position, each checkpoint's five guesses for the next character, shaded by probability."""
    checkpoints = shown_checkpoints(run, checkpoints)
    if not checkpoints:
        return None
    pos = int(start or 0) if pos is None else int(pos)
    rows, context = [], None
    for checkpoint in checkpoints:
        try:
            rec = data.open_recording(run, checkpoint)
        except CellscopeError as e:
            return notice(str(e))
        if not 0 <= pos < rec.n_chars:
            return notice(f"position {pos} is outside the recorded text ({rec.n_chars:,} characters)")
        (chars,), (probs,) = rec.top5(pos, pos + 1)
        actual = rec.text[pos + 1] if pos + 1 < rec.n_chars else None
        context = context or (rec.window(max(0, pos - CONTEXT), pos + 1), actual)
        cells = [html.Td(f"{_glyph(g)} {p:.0%}", style={**PAD, "background": prob_shade(p),
                                                        "fontWeight": "bold" if g == actual else "normal"})
                 for g, p in zip(chars, probs.tolist())]
        p_actual = float(np.exp(-rec.loss(pos, pos + 1)[0]))
        rows.append(html.Tr([html.Td(f"{rec.iteration:,}" if rec.iteration is not None else checkpoint, style=PAD),
                             *cells, html.Td("–" if np.isnan(p_actual) else f"{p_actual:.0%}", style=PAD)]))
    before, actual = context
    names = ["iteration", *[f"guess {k}" for k in range(1, 6)], "p(actual)"]
    head = html.Tr([html.Th(name, style=PAD) for name in names])
    return html.Div([
        html.P(["after ", html.Code("".join(_glyph(c) for c in before), className="cs-text"),
                f" (position {pos}) comes ", html.Code(_glyph(actual) if actual else "(end of text)",
                                                        className="cs-text")]),
        html.Table([html.Thead(head), html.Tbody(rows)], className="cs-text guesses",
                   style={"borderCollapse": "collapse", "fontSize": "13px"}),
    ])


def shared_kinds(rec, kind):
    """The kinds to score for one: the recording's states together (c and h, as Find and viz.rank score them, so
    all three share one cache entry), a gate on its own."""
    return tuple(rec.state_kinds) if kind in rec.state_kinds else (kind,)


def concept_scores(rec, concept, kind):
    """Every cell of one kind scored against a concept, best first, through the shared disk cache."""
    table = score_cache.scores(rec, concept_id=concept, kinds=shared_kinds(rec, kind))
    return table[table["kind"] == kind].reset_index(drop=True)


@callback(Output("cmp-scored", "data"), Input("cmp-concept", "value"), Input("cmp-checkpoints", "value"),
          Input("cmp-kind", "value"), State("cmp-run", "data"), **job_arguments("cmp-score"))
def score_checkpoints(set_progress, concept, checkpoints, kind, run):
    """Every shown checkpoint scored against the concept, in the background (seconds each on a long recording)
    and into the disk cache that the chart reads: the page stays usable meanwhile, and the job can be cancelled."""
    shown = shown_checkpoints(run, checkpoints)
    for done, checkpoint in enumerate(shown):
        set_progress((str(done), str(len(shown))))
        try:
            concept_scores(data.open_recording(run, checkpoint), concept, kind)
        except CellscopeError:
            pass  # the chart says why
    return {"concept": concept, "kind": kind, "checkpoints": shown}


# The chart follows the rows: it fires once the new colours are painted (cmp-painted), so a cell switch never
# waits for it, and it draws only what is scored already (the job above scores the rest).
@callback(Output("cmp-score", "figure"), Output("cmp-score-msg", "children"),
          Input("cmp-painted", "data"), Input("cmp-scored", "data"), Input("cmp-concept", "value"),
          Input("cmp-score-progress", "value"), State("cmp-checkpoints", "value"), State("cmp-layer", "value"),
          State("cmp-cell", "value"), State("cmp-kind", "value"), State("cmp-run", "data"))
def score_chart(_painted, scored, concept, _progress, checkpoints, layer, cell, kind, run):
    """The best cell's score and this cell's score for a concept, at each checkpoint scored so far."""
    checkpoints = shown_checkpoints(run, checkpoints)
    if not checkpoints or layer is None or cell is None:
        return no_update, None
    finished = scored["checkpoints"] if scored and [scored["concept"], scored["kind"]] == [concept, kind] else []
    points, problems, metric, waiting = [], [], None, 0
    for checkpoint in checkpoints:
        try:
            rec = data.open_recording(run, checkpoint)
            if checkpoint not in finished and not score_cache.is_cached(rec, concept_id=concept,
                                                                        kinds=shared_kinds(rec, kind)):
                waiting += 1
                continue
            scores = concept_scores(rec, concept, kind)
        except CellscopeError as e:
            problems.append(f"{checkpoint}: {e}")
            continue
        best = scores.iloc[0]
        mine = scores[(scores["layer"] == int(layer)) & (scores["cell"] == int(cell))].iloc[0]
        metric = best["metric"]
        points.append({"iteration": rec.iteration, "best": best["score"],
                       "best_cell": f"{best['layer']}:{best['cell']}",
                       "best_sign": best["sign"], "cell": mine["score"], "cell_sign": mine["sign"]})
    if waiting:
        problems.append(f"Scoring {waiting} more checkpoint{'s' * (waiting > 1)} in the background; the chart grows "
                        "as they finish.")
    figure = score_vs_iteration(points, concept, f"{layer}:{cell} {KIND_LABELS[kind]}", metric)
    return figure, notice(*problems, cls="msg") if problems else None


@callback(Output("cmp-loss", "figure"), Input("cmp-checkpoints", "value"), State("cmp-run", "data"))
def loss_chart(checkpoints, run):
    return loss_curve(data.read_log(run), [iteration_of(c) for c in shown_checkpoints(run, checkpoints)])


def ngram_points(run, checkpoints):
    """[{iteration, order, kl}] of the shown checkpoints whose recording has viz.ngram's ngram.json beside it."""
    points = []
    for checkpoint in shown_checkpoints(run, checkpoints):
        rec = data.open_recording(run, checkpoint)
        try:
            summary = json.loads((rec.path / "ngram.json").read_text(encoding="utf-8"))
            order = summary["closest_order"]
            points.append({"iteration": rec.iteration, "order": order, "kl": summary["kl_top5"][order - 1]})
        except (OSError, ValueError, KeyError, IndexError):
            continue
    return points


@callback(Output("cmp-ngram", "children"), Input("cmp-checkpoints", "value"), State("cmp-run", "data"))
def ngram_chart(checkpoints, run):
    """Per checkpoint, the n-gram order whose predictions are closest to the model's (smallest KL divergence,
    from the model's top-5 guesses), once python -m viz.ngram ... --all-checkpoints has fitted them."""
    points = ngram_points(run, checkpoints)
    if not points:
        return html.P(["Fit the n-gram baseline for every checkpoint to see it: ",
                       html.Code(f"python -m viz.ngram {data.run_dir(run)} --all-checkpoints")], className="where")
    return [dcc.Graph(id="cmp-ngram-graph", figure=closest_ngram_order(points), config={"displayModeBar": False}),
            html.P("KL(model ‖ n-gram) over the recording, from the model's top 5 guesses and the rest lumped "
                   "together: a lower bound of the full divergence.", className="where")]


@callback(Output("cmp-samples", "children"), Input("cmp-checkpoints", "value"), State("cmp-run", "data"))
def show_samples(checkpoints, run):
    """The sample written at each shown checkpoint, side by side (html.Pre shows it as plain, escaped text)."""
    written = data.samples(run)
    shown = [c for c in shown_checkpoints(run, checkpoints) if c in written]
    if not shown:
        return html.P("No samples were written for these checkpoints.", className="where")
    return [html.Div([html.B(f"iter {iteration_of(c):,}"), html.Pre(written[c])], className="cmp-sample")
            for c in shown]


@callback(Output("cmp-match-checkpoint", "options"), Output("cmp-match-checkpoint", "value"),
          Input("cmp-match-run", "value"))
def match_checkpoints(run_b):
    found = list(data.recordings(run_b)) if run_b else []
    return found, found[-1] if found else None


@callback(Output("cmp-match-result", "children"),
          Input("cmp-match-checkpoint", "value"), Input("cmp-painted", "data"), State("cmp-checkpoints", "value"),
          State("cmp-layer", "value"), State("cmp-cell", "value"), State("cmp-kind", "value"),
          State("cmp-match-run", "value"), State("cmp-run", "data"))
def match_cell(checkpoint_b, _painted, checkpoints, layer, cell, kind, run_b, run):
    """The cell of run B whose activations correlate most (by |r|) with this cell's at the newest shown
    checkpoint, over the same text."""
    checkpoints = shown_checkpoints(run, checkpoints)
    if not checkpoints or not checkpoint_b or layer is None or cell is None:
        return None
    try:
        rec_a, rec_b = data.open_recording(run, checkpoints[-1]), data.open_recording(run_b, checkpoint_b)
        kind = matching_kind(rec_a, rec_b, kind)  # an LSTM and a GRU or RNN share only h
        best = match_cells(rec_a, rec_b, kind=kind, cells=[(int(layer), int(cell))]).iloc[0]
    except CellscopeError as e:
        return notice(str(e))
    lb, cb = int(best["layer_b"]), int(best["cell_b"])
    link = "/?" + urlencode({"run": run_b, "checkpoint": checkpoint_b, "layer": lb, "cell": cb, "kind": kind})
    return html.P([f"Cell {layer}:{cell} of {run} at {checkpoints[-1]} moves most like cell ",
                   dcc.Link(f"{lb}:{cb}", href=link, id="cmp-match-link"),
                   f" of {run_b} at {checkpoint_b}: r = {best['corr']:+.3f}"
                   + (" (mirrored: high where this one is low)" if best["corr"] < 0 else "")])


# The browser side: assets/compare.js builds the rows once per window and paints, underlines, outlines and
# hovers them through assets/cellscope.js; the steppers are cellscope.js's, shared with Browse.
clientside_callback(ClientsideFunction("compare", "paintRows"),
                    Input("cmp-window", "data"), Input("cmp-levels", "data"), Input("cmp-marks", "data"))
clientside_callback(ClientsideFunction("compare", "outline"), Input("cmp-pos", "value"), Input("cmp-painted", "data"))
clientside_callback(ClientsideFunction("compare", "keepHover"), Input("cmp-hover", "data"))
register_steppers("cmp")
clientside_callback(ClientsideFunction("compare", "syncUrl"),
                    Input("cmp-checkpoints", "value"), Input("cmp-layer", "value"), Input("cmp-cell", "value"),
                    Input("cmp-kind", "value"), Input("cmp-start", "value"), Input("cmp-size", "value"),
                    Input("cmp-concept", "value"), Input("cmp-pos", "value"), State("cmp-run", "data"),
                    State("cmp-all", "data"))
follow_checkpoints("cmp-checkpoints", "cmp-run", multi=True)
