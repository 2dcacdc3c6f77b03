"""Atlas: every cell against every concept at once, to measure the 2015 paper's "about 5% of cells are
interpretable" on this recording instead of guessing it.

viz.atlas scores every cell (all layers, c and h) against every concept and caches the table beside the
recording (atlas.json); the first computation takes seconds on a big recording, so the page comes up at once
and the atlas fills in from a background job, with its progress. Shown: the interpretable fraction per layer
and overall, each concept's best cell, and the cells x concepts heatmap (a click opens the cell in Browse with
its concept).
"""
import dash
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from model.errors import CellscopeError
from viz import atlas
from viz.app import data
from viz.app.common import choose_recording, job_arguments, job_controls, labeled, notice
from viz.app.live import follow_checkpoints
from viz.concepts import CONCEPTS
from viz.figures import ATLAS_METRICS, atlas_heatmap

dash.register_page(__name__, path="/atlas", name="Atlas", title="cellscope · atlas", order=4)

def browse_link(run, checkpoint, layer, cell, kind, concept):
    """The Browse view of a cell with its concept, by Find's URL builder. Imported when called, when Dash has
    loaded every page: importing a page module while Dash loads them would register its callbacks twice."""
    from viz.app.find import browse_href
    return browse_href(run, checkpoint, int(layer), int(cell), kind, ("concept", concept))


def layout(run=None, checkpoint=None, **_other_pages_params):
    """The page for the URL's run and checkpoint; a bad one is explained and replaced by its default."""
    problems = []
    chosen = choose_recording(run, checkpoint, problems)
    if not isinstance(chosen, tuple):
        return chosen
    run, found, checkpoint = chosen
    return html.Div(className="atlas", children=[
        dcc.Store(id="a-run", data=run),
        dcc.Location(id="a-nav", refresh="callback-nav"),
        notice(*problems) if problems else None,
        html.Div(className="controls", children=[
            labeled("checkpoint", dcc.Dropdown(id="a-checkpoint", options=found, value=checkpoint, clearable=False,
                                                style={"minWidth": "11em"})),
        ]),
        job_controls("a-atlas"),
        html.Div(id="a-atlas"),
    ])


def fractions_line(fractions, best):
    """The interpretable fraction per layer and overall, with the thresholds it counts by."""
    per = " · ".join(f"{name} {value:.1%}" for name, value in fractions.items())
    return (f"Interpretable (AUROC ≥ {atlas.THRESHOLDS['auroc']} or |ρ| ≥ {atlas.THRESHOLDS['spearman']} for some "
            f"concept): {per} ({int(best['interpretable'].sum()):,} of {len(best):,} cells).")


def best_cells_table(run, checkpoint, scores, metrics, best):
    """Each concept's best cell (a link to it in Browse), its score, and how many interpretable cells it is the
    best concept of."""
    owned = best[best["interpretable"]].groupby("best").size()
    rows = [html.Tr([html.Th(concept),
                     html.Td(html.A(f"{layer}:{cell} {kind}", href=browse_link(run, checkpoint, layer, cell, kind,
                                                                                concept), title="open in Browse")),
                     html.Td(f"{ATLAS_METRICS[metrics[concept]]} {score:.3f}"),
                     html.Td(f"{int(owned.get(concept, 0))}")])
            for concept, ((layer, cell, kind), score) in atlas.best_cells(scores).iterrows()]
    head = html.Tr([html.Th(name) for name in ("concept", "best cell", "score", "interpretable cells")])
    return html.Table([html.Thead(head), html.Tbody(rows)], id="a-best", className="atlas-best")


@callback(Output("a-atlas", "children"), Input("a-checkpoint", "value"), State("a-run", "data"),
          **job_arguments("a-atlas"))
def show_atlas(set_progress, checkpoint, run):
    """The atlas of the chosen recording, in the background (computed once, then read from atlas.json)."""
    try:
        rec = data.open_recording(run, checkpoint)
        scores, metrics, left_out = atlas.atlas(rec, progress=lambda done, total: set_progress((str(done), str(total))))
    except CellscopeError as e:
        return notice(str(e))
    if scores.empty:
        return notice(f"No concept could be scored on the recording of {rec.checkpoint}: "
                      f"{next(iter(left_out.values()), 'no concepts')}")
    best = atlas.best_concepts(scores, metrics)
    note = ("Rows: cells grouped by their best concept, strongest first. Colour: 2·AUROC − 1 for a set of "
            "positions, |Spearman ρ| for a count (0 = chance, 1 = perfect). Click a square to open that cell in "
            "Browse.")
    if left_out:
        note += f" Left out, constant on this text: {', '.join(left_out)}."
    return [
        html.P(fractions_line(atlas.fractions(best), best), id="a-fractions", className="cell-label"),
        html.H3(f"The best cell of each concept, {rec.checkpoint}", className="section"),
        best_cells_table(run, rec.checkpoint, scores, metrics, best),
        html.H3(f"Every cell × every concept ({len(scores):,} cells)", className="section"),
        html.P(note, className="where"),
        dcc.Graph(id="a-heatmap", figure=atlas_heatmap(scores, metrics, best), config={"displayModeBar": False}),
    ]


@callback(Output("a-nav", "href"), Input("a-heatmap", "clickData"), State("a-checkpoint", "value"),
          State("a-run", "data"), prevent_initial_call=True)
def open_in_browse(click, checkpoint, run):
    """A click on a square opens its cell in Browse, its concept underlined (rows are "LAYER:CELL KIND")."""
    point = (click or {}).get("points", [{}])[0]
    try:
        where, kind = point["y"].split(" ")
        layer, cell = where.split(":")
    except (KeyError, AttributeError, ValueError):
        return no_update
    return browse_link(run, checkpoint, layer, cell, kind, point["x"]) if point.get("x") in CONCEPTS else no_update


# The URL names the run and checkpoint shown (assets/cellscope.js syncUrl, as every page keeps its URL).
clientside_callback("function (checkpoint, run) { cellscope.syncUrl({run: run, checkpoint: checkpoint}); }",
                    Input("a-checkpoint", "value"), State("a-run", "data"))


follow_checkpoints("a-checkpoint", "a-run")
