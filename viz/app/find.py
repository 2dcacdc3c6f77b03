"""Find: which cells track a concept? Flipping through 512 cells by eye is how the 2015 work found its quote
cell; this page ranks them all instead.

The target is a named concept (viz.concepts), the positions inside a regular expression's matches, or a span
of the text (as in LSTMVis, the span is the positive set; /find?span=START-STOP). Every cell of kinds c and h
in every layer is scored by viz.rank.rank_recording (AUROC for a set of positions, |Spearman r| for a
continuous concept) and listed best first; clicking a row opens that cell in Browse with the concept
underlined. Scoring a long recording takes seconds, so scores are cached per (recording, target). Around the
table: one cell's strongest positions, a concepts x layers overview (scored on request: it scores every
concept) and the 2015 paper's gate saturation scatter.
"""
import functools
from html import escape
from urllib.parse import urlencode

import dash
import dash_ag_grid as dag
import numpy as np
import pandas as pd
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from model.errors import CellscopeError
from viz import concepts
from viz.app import data
from viz.app.common import choose_recording, job_arguments, job_controls, labeled, notice
from viz.app.live import follow_checkpoints
from viz.colors import KIND_LABELS
from viz.excerpts import excerpts
from viz.figures import concept_overview, gate_saturation
from viz.ranking import concept_target
from viz import score_cache

dash.register_page(__name__, path="/find", name="Find", title="cellscope · find", order=1)

DEFAULT_CONCEPT = "quotes"
KINDS = ("c", "h")
MAX_ROWS = 1000  # rows sent to the table: the best cells are what one looks for, and the browser stays quick
EXCERPTS, BEFORE, AFTER = 8, 20, 12  # strongest positions listed, and the context shown around each
JUMP_CONTEXT = 200  # Browse opens this many characters before the position (or span) it is sent to

COLUMNS = [
    {"field": "rank", "minWidth": 80},
    {"field": "layer", "minWidth": 80},
    {"field": "cell", "minWidth": 75},
    {"field": "kind", "minWidth": 75},
    {"field": "score", "minWidth": 90},
    {"field": "sign", "minWidth": 75},
    {"field": "metric", "minWidth": 90},
    {"field": "mean_in", "headerName": "mean inside", "minWidth": 110},
    {"field": "mean_out", "headerName": "mean outside", "minWidth": 110},
    {"field": "excerpts", "minWidth": 100, "sortable": False,
     "cellStyle": {"color": "#2c3f9b", "textDecoration": "underline"}},
]


# ---------------------------------------------------------------------------------------------------------
# pure helpers (the tests call them directly)


def parse_span(raw):
    """'START-STOP' (from the URL) -> (start, stop); a CellscopeError with a readable message otherwise."""
    try:
        start, stop = (int(part) for part in str(raw).split("-"))
    except ValueError:
        raise CellscopeError(f"span={raw!r} should be START-STOP, e.g. span=100-250") from None
    return start, stop


def describe(target):
    """How a target reads in the page's summary line."""
    what, *args = target
    return {"concept": f"concept {args[0]}", "regex": f"regex {args[0]!r}"}.get(what, f"span [{args[0]}, {args[-1]})")


def kinds_of(rec):
    """The kinds ranked: c and h, as far as the recording has them."""
    return tuple(k for k in KINDS if k in rec.kinds)


def target_kwargs(target):
    """("concept", id), ("regex", pattern) or ("span", start, stop) as viz.rank's keyword arguments."""
    what, *args = target
    if what == "concept":
        return {"concept_id": args[0]}
    return {"regex": args[0]} if what == "regex" else {"span": tuple(args)}


def ranked(rec, target):
    """Every cell of rec scored against target, best first (from the disk cache beside the recording, once
    computed); a target that cannot be scored raises a CellscopeError."""
    return score_cache.scores(rec, kinds=kinds_of(rec), **target_kwargs(target))


@functools.lru_cache(maxsize=8)
def target_values(rec, target):
    """The target at every position of rec's text (bool, or float for a continuous concept)."""
    return concept_target(rec.text, **target_kwargs(target))


def table_rows(scores, limit=MAX_ROWS):
    """The grid's rows for the best `limit` cells of a rank_recording table."""
    def num(x):
        return None if np.isnan(x) else round(float(x), 3)

    return [{"id": f"{r.layer}-{r.cell}-{r.kind}", "rank": rank, "layer": int(r.layer), "cell": int(r.cell),
             "kind": r.kind, "score": round(float(r.score), 4), "sign": int(r.sign), "metric": r.metric,
             "mean_in": num(r.mean_in), "mean_out": num(r.mean_out), "excerpts": "show"}
            for rank, r in enumerate(scores.head(limit).itertuples(), 1)]


def browse_href(run, checkpoint, layer, cell, kind, target, start=None):
    """The Browse view of one cell: a binary concept is passed on to be underlined, a span is scrolled to.
    (Browse underlines only named concepts; for a regex it just opens the cell.)"""
    query = {"run": run, "checkpoint": checkpoint, "layer": layer, "cell": cell, "kind": kind}
    what, *args = target
    if what == "concept" and concepts.CONCEPTS[args[0]].kind == "binary":
        query["concept"] = args[0]
    if what == "span" and start is None:
        start = max(0, args[0] - JUMP_CONTEXT)
    if start is not None:
        query["start"] = start
    return "/?" + urlencode(query)


def best_per_layer(scores):
    """The best cell of each layer (either kind) in a rank_recording table, one row per layer."""
    return scores.loc[scores.groupby("layer")["score"].idxmax()].sort_values("layer")


def strength(score, metric):
    """One scale for both metrics, 0 = chance and 1 = perfect: 2·AUROC − 1 (AUROC is folded to >= 0.5), |r|."""
    return np.where(metric == "auroc", 2 * np.asarray(score) - 1, score)


def overview(rec, progress=None):
    """(best cell per concept and layer, {concept: why it was left out}) over every concept, scored in one pass
    over the cells as the atlas is (each cell read once for all of them, not once per concept); progress(done,
    total) follows that pass.

    A concept that is constant on this text (no URL in a novel) cannot be scored and is left out with the
    reason; the first frame has columns concept, layer, score, strength, kind, cell, sign, metric."""
    scored, left_out = score_cache.many(rec, list(concepts.CONCEPTS), kinds_of(rec), progress)
    parts = []
    for concept_id, scores in scored.items():
        best = best_per_layer(scores)
        parts.append(best.assign(concept=concept_id, strength=strength(best["score"], best["metric"])))
    columns = ["concept", "layer", "score", "strength", "kind", "cell", "sign", "metric"]
    best = pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
    return best, left_out


def excerpts_html(rec, run, row, target):
    """The row's cell at its strongest positions (its highest values, or lowest for a sign -1 detector), each
    a short coloured excerpt (viz.excerpts) that links to the position in Browse."""
    layer, cell, kind = row["layer"], row["cell"], row["kind"]
    truth = target_values(rec, tuple(target))

    def where(pos):
        return ("inside" if truth[pos] else "outside") if truth.dtype == bool else f"= {truth[pos]:g}"

    def href(pos):
        return escape(browse_href(run, rec.checkpoint, layer, cell, kind, target, start=max(0, pos - JUMP_CONTEXT)))

    found = excerpts(rec, rec.series(layer, cell, kind), kind, EXCERPTS, BEFORE, AFTER, sign=row["sign"], note=where)
    return "".join(f'<a class="ex" href="{href(pos)}" data-pos="{pos}" title="open position {pos} in Browse">'
                   f"{spans}</a>" for pos, spans in found)


# ---------------------------------------------------------------------------------------------------------
# the page


def layout(run=None, checkpoint=None, concept=None, regex=None, span=None, **_other_pages_params):
    """The page for the URL's view; a bad parameter is explained and replaced by its default."""
    problems = []
    chosen = choose_recording(run, checkpoint, problems)
    if not isinstance(chosen, tuple):
        return chosen
    run, found, checkpoint = chosen
    if concept is not None and concept not in concepts.CONCEPTS:
        problems.append(f"There is no concept {concept!r}; showing {DEFAULT_CONCEPT}.")
        concept = None
    start = stop = None
    if span is not None:
        try:
            start, stop = parse_span(span)
        except CellscopeError as e:
            problems.append(f"{e}; showing a concept instead.")
            span = None
    mode = "regex" if regex is not None else "span" if span is not None else "concept"
    return html.Div(className="find", children=[
        dcc.Store(id="f-run", data=run),
        dcc.Store(id="f-target"),
        dcc.Store(id="f-excerpts-data"),
        dcc.Location(id="f-nav", refresh="callback-nav"),
        notice(*problems) if problems else None,
        *_target_controls(found, checkpoint, mode, concept, regex, start, stop),
        html.Div(id="f-msg"),
        job_controls("f-rank"),
        html.P(id="f-summary", className="where"),
        html.P("Click a row to open its cell in Browse; click “show” to list its strongest positions here. "
               "Sign +1: the cell is high inside the concept (rises with it); −1: low inside (falls with it). "
               "Means are of the raw values (c, not tanh(c)).",
               className="where"),
        _table_and_excerpts(),
        *_overview_and_gates(),
    ])


def _target_controls(found, checkpoint, mode, concept, regex, start, stop):
    """The checkpoint, and what to rank the cells against: a concept, a regex or a span."""
    return [
        html.Div(className="controls", children=[
            labeled("checkpoint", dcc.Dropdown(id="f-checkpoint", options=found, value=checkpoint, clearable=False,
                                                style={"minWidth": "11em"})),
            labeled("find cells that track", dcc.RadioItems(
                id="f-mode", value=mode, inline=True,
                options=[{"label": "a concept", "value": "concept"}, {"label": "a regex", "value": "regex"},
                         {"label": "a span", "value": "span"}])),
        ]),
        html.Div(className="controls", children=[
            labeled("concept", dcc.Dropdown(
                id="f-concept", value=concept or DEFAULT_CONCEPT, clearable=False, style={"minWidth": "34em"},
                options=[{"label": f"{c.id}: {c.description}", "value": c.id, "search": c.id}
                         for c in concepts.CONCEPTS.values()])),
            labeled("regex", dcc.Input(id="f-regex", type="text", value=regex or "", debounce=True,
                                        placeholder=r"e.g. \d+ or Prince \w+", style={"width": "14em"})),
            labeled("span", html.Span([
                dcc.Input(id="f-span-start", type="number", min=0, step=1, value=start, debounce=True,
                          placeholder="start"),
                " to ",
                dcc.Input(id="f-span-stop", type="number", min=0, step=1, value=stop, debounce=True,
                          placeholder="stop"),
            ])),
        ]),
    ]


def _table_and_excerpts():
    """The ranked cells, and beside them one cell's strongest positions."""
    return html.Div(className="main", children=[
        dag.AgGrid(id="f-grid", rowData=[], columnDefs=COLUMNS, getRowId="params.data.id",
                   defaultColDef={"sortable": True, "resizable": True, "cellStyle": {"cursor": "pointer"}},
                   columnSize="responsiveSizeToFit", style={"height": "30em"}),
        html.Aside(className="side", children=[
            html.H3(id="f-excerpts-title"),
            html.Div(id="f-excerpts", className="cs-text excerpts"),
        ]),
    ])


def _overview_and_gates():
    """The best cell per layer for every concept (scored on request), and the gate saturation scatter."""
    return [
        html.H3("Overview: the best cell of each layer for every concept", className="section"),
        html.P(["Scores every concept against every cell (a while on a long recording). ",
                html.Button("compute overview", id="f-overview-btn")], className="where"),
        job_controls("f-overview"),
        html.Div(id="f-overview-msg"),
        html.Div(id="f-overview"),
        html.H3("Gate saturation", className="section"),
        html.Div(id="f-gates"),
    ]


@callback(Output("f-mode", "value"), Input("f-concept", "value"), Input("f-regex", "value"),
          Input("f-span-start", "value"), Input("f-span-stop", "value"), prevent_initial_call=True)
def follow_input(*_):
    """Editing a target's input makes it the target."""
    return {"f-concept": "concept", "f-regex": "regex"}.get(ctx.triggered_id, "span")


def _target(mode, concept, regex, start, stop):
    if mode == "regex":
        if not regex:
            raise CellscopeError("Type a regular expression: the positions inside its matches are the concept.")
        return ("regex", regex)
    if mode == "span":
        if start is None or stop is None:
            raise CellscopeError("Type the span's start and stop positions (stop not included).")
        return ("span", int(start), int(stop))
    return ("concept", concept)


@callback(Output("f-grid", "rowData"), Output("f-target", "data"), Output("f-summary", "children"),
          Output("f-msg", "children"),
          Input("f-checkpoint", "value"), Input("f-mode", "value"), Input("f-concept", "value"),
          Input("f-regex", "value"), Input("f-span-start", "value"), Input("f-span-stop", "value"),
          State("f-run", "data"), **job_arguments("f-rank"))
def rank_cells(set_progress, checkpoint, mode, concept, regex, start, stop, run):
    """Every cell ranked against the target, in the background (a big recording takes seconds; read from the
    disk cache once ranked); a target that cannot be scored is explained above the table."""
    try:
        rec = data.open_recording(run, checkpoint)
        target = _target(mode, concept, regex, start, stop)
        scores = ranked(rec, target)
    except CellscopeError as e:
        return [], None, "", notice(str(e))
    truth = target_values(rec, target)
    if scores["metric"].iloc[0] == "auroc":
        inside = int(truth.sum())
        what = (f"{describe(target)}: {inside:,} of {rec.n_chars:,} positions inside ({inside / rec.n_chars:.1%}). "
                f"Cells ranked by AUROC (0.5 = chance, 1 = a perfect detector)")
    else:
        what = f"{describe(target)}: cells ranked by {scores['metric'].iloc[0].capitalize()} correlation |r|"
    shown = min(len(scores), MAX_ROWS)
    summary = f"{what}, {rec.checkpoint}; " + (f"the best {shown:,} of {len(scores):,} cells." if shown < len(scores)
                                               else f"{len(scores):,} cells.")
    return table_rows(scores), list(target), summary, None


@callback(Output("f-excerpts-data", "data"), Output("f-excerpts-title", "children"),
          Input("f-grid", "rowData"), Input("f-grid", "cellClicked"), State("f-target", "data"),
          State("f-checkpoint", "value"), State("f-run", "data"))
def show_excerpts(rows, clicked, target, checkpoint, run):
    """The strongest positions of the top-ranked cell, or of the row whose "show" was clicked."""
    if not rows or not target:
        return "", ""
    row = rows[0]
    if "f-grid.cellClicked" in ctx.triggered_prop_ids:
        if not clicked or clicked.get("colId") != "excerpts":
            return no_update, no_update
        row = next((r for r in rows if r["id"] == clicked.get("rowId")), row)
    try:
        rec = data.open_recording(run, checkpoint)
        strongest = excerpts_html(rec, run, row, target)
    except CellscopeError as e:
        return "", str(e)
    title = (f"Strongest positions of cell {row['layer']}:{row['cell']} {KIND_LABELS[row['kind']]} "
             f"(rank {row['rank']}; click one to open it)")
    return strongest, title


@callback(Output("f-nav", "href"), Input("f-grid", "cellClicked"), State("f-target", "data"),
          State("f-checkpoint", "value"), State("f-run", "data"), prevent_initial_call=True)
def open_in_browse(clicked, target, checkpoint, run):
    """A click on a row (not on its "show") opens the cell in Browse."""
    if not clicked or not target or clicked.get("colId") == "excerpts" or not clicked.get("rowId"):
        return no_update
    layer, cell, kind = str(clicked["rowId"]).split("-")
    return browse_href(run, checkpoint, int(layer), int(cell), kind, tuple(target))


@callback(Output("f-overview", "children"), Output("f-overview-msg", "children"),
          Input("f-overview-btn", "n_clicks"), Input("f-checkpoint", "value"), State("f-run", "data"),
          prevent_initial_call=True, **job_arguments("f-overview"))
def show_overview(set_progress, clicks, checkpoint, run):
    """Computed only once asked for, in the background (it scores every concept: minutes on a big recording),
    then read from the disk cache."""
    if not clicks:
        return no_update, no_update
    try:
        rec = data.open_recording(run, checkpoint)
    except CellscopeError as e:
        return None, notice(str(e))
    best, left_out = overview(rec, lambda done, total: set_progress((str(done), str(total))))
    figure = concept_overview(best, list(concepts.CONCEPTS), rec.layers)
    note = (f"{rec.checkpoint}. Colour: 2·AUROC − 1 for a set of positions, |r| for a continuous concept "
            "(0 = chance, 1 = perfect); the number is the score. Click a square to rank that concept's cells.")
    if left_out:
        note += f" Left out, constant on this text: {', '.join(left_out)}."
    return dcc.Graph(id="f-overview-graph", figure=figure, config={"displayModeBar": False}), \
        html.P(note, className="where")


@callback(Output("f-concept", "value"), Input("f-overview-graph", "clickData"), prevent_initial_call=True)
def pick_from_overview(click):
    """A click on the overview's square ranks that square's concept in the table."""
    concept = (click or {}).get("points", [{}])[0].get("y")
    return concept if concept in concepts.CONCEPTS else no_update


@callback(Output("f-gates", "children"), Input("f-checkpoint", "value"), State("f-run", "data"))
def show_gates(checkpoint, run):
    """The gate saturation scatter, from the recording's gate_stats.json (written by model.record --gates)."""
    try:
        rec = data.open_recording(run, checkpoint)
    except CellscopeError as e:
        return notice(str(e))
    if rec.cell == "rnn":
        return html.P("A vanilla RNN has no gates.", className="where")
    if not rec.gate_stats:
        return html.P(["This recording has no gates. Record them with: ",
                       html.Code(f"python -m model.record {data.run_dir(run)} --checkpoint {rec.checkpoint} --gates")],
                      className="where")
    return dcc.Graph(id="f-gates-graph", figure=gate_saturation(rec.gate_stats), config={"displayModeBar": False})


# The browser side: the excerpts (escaped by viz.text_html) go in as Browse's do; assets/find.js keeps the URL.
clientside_callback(ClientsideFunction("cellscope", "showHtml"), Input("f-excerpts-data", "data"))
clientside_callback(ClientsideFunction("find", "syncUrl"),
                    Input("f-checkpoint", "value"), Input("f-mode", "value"), Input("f-concept", "value"),
                    Input("f-regex", "value"), Input("f-span-start", "value"), Input("f-span-stop", "value"),
                    State("f-run", "data"))
follow_checkpoints("f-checkpoint", "f-run")
