"""Browse: flip through the cells of one recording and see the text coloured by the chosen cell.

The server renders a text window's uncoloured spans once (viz.text_html) and the browser inserts them as HTML
(assets/browse.js, through the painter of assets/cellscope.js); a cell switch sends only that cell's colour
levels for the window (one uint8 per character, base64) and the browser sets the class of each span whose
level changed. The window's top-5 guesses and loss travel once with the window, for the hover box; exact
values are sent only on hover. Flipping cells, paging and the URL are handled in the browser, so a switch costs
one small request. "colour by" swaps the cell for the model's loss on each character, or for its advantage over
the run's n-gram (viz.ngram, stored beside the recording), through the same painter on their own scales.
"""
import dash
import numpy as np
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, dcc, html, no_update

from model.errors import CellscopeError
from viz import char_loss, concepts
from viz.app import data
from viz.app.common import (b64, chosen_view, labeled, notice, recorded_window, register_steppers, window_bounds,
                            window_controls)
from viz.app.live import follow_checkpoints
from viz.app.textview import concept_marks, hover_data
from viz.colors import KIND_LABELS, N_LEVELS, display_values, quantize, value_range
from viz.excerpts import excerpts
from viz.figures import histogram
from viz.standalone import export_html
from viz.text_html import render_text

dash.register_page(__name__, path="/", name="Browse", title="cellscope · browse", order=0)

DEFAULT_SIZE = 5000
SIZES = [1000, 2000, 5000, 10000, 20000, 50000, 100000]
EXCERPTS, BEFORE, AFTER = 10, 16, 12  # strongest positions listed, and the context shown around each
JUMP_CONTEXT = 200  # an excerpt click opens the window this many characters before the position
# The text window is cut into blocks (ending at newlines, so lines stay whole) that the browser does not style,
# lay out or paint while they are off screen (CSS content-visibility): a cell switch then costs what is visible.
BLOCK = 1000
COLOURS = {"cell": "cell", "loss": "loss", "advantage": "advantage over the n-gram"}  # what colours the text


def layout(run=None, checkpoint=None, layer=None, cell=None, kind=None, start=None, size=None, top5=None,
           concept=None, colour=None, **_other_pages_params):
    """The page for the URL's view; a bad parameter is explained and replaced by its default."""
    view = chosen_view(run, checkpoint, layer, cell, start, size, DEFAULT_SIZE, SIZES[-1])
    if not isinstance(view, tuple):
        return view
    problems, run, found, checkpoint, rec, layer, cell, start, size = view
    if kind is not None and kind not in rec.kinds:
        problems.append(f"kind={kind!r} is not recorded here (recorded: {', '.join(rec.kinds)}); "
                        f"showing {rec.kinds[0]}.")
    kind = kind if kind in rec.kinds else rec.kinds[0]
    if concept is not None and concept not in concepts.CONCEPTS:
        problems.append(f"There is no concept {concept!r}; nothing is underlined.")
        concept = None
    if colour is not None and colour not in COLOURS:
        problems.append(f"colour={colour!r} is not one of {', '.join(COLOURS)}; colouring by the cell.")
    options, hint = _colour_options(run, rec)
    colour = colour if any(o["value"] == colour and not o["disabled"] for o in options) else "cell"
    return html.Div(className="browse", children=[
        dcc.Store(id="b-run", data=run),
        dcc.Store(id="b-concept", data=concept),
        dcc.Store(id="b-shape", data={"layers": rec.layers, "cells": rec.cells}),
        *[dcc.Store(id=name) for name in ("b-window", "b-values", "b-painted", "b-exact-req", "b-exact",
                                          "b-excerpts-data")],
        dcc.Download(id="b-download"),
        notice(*problems) if problems else None,
        _cell_controls(rec, found, checkpoint, layer, cell, kind),
        html.Div(className="controls", children=[
            labeled("colour by", dcc.RadioItems(id="b-colour", options=options, value=colour, inline=True)),
            html.Span(hint, id="b-colour-hint", className="where")]),
        _window_controls(rec, start, size, top5 == "1"),
        *[html.Div(id=name) for name in ("b-window-msg", "b-values-msg", "b-export-msg")],
        _text_and_summary(),
    ])


def _cell_controls(rec, found, checkpoint, layer, cell, kind):
    """Which cell colours the text: checkpoint, layer, cell (with its stepper), kind."""
    return html.Div(className="controls", children=[
        labeled("checkpoint", dcc.Dropdown(id="b-checkpoint", options=found, value=checkpoint, clearable=False)),
        labeled("layer", dcc.Dropdown(id="b-layer", options=list(range(rec.layers)), value=layer, clearable=False)),
        labeled("cell", html.Span(className="stepper", children=[
            html.Button("◀", id="b-prev", title="previous cell (k or ←)"),
            dcc.Input(id="b-cell", type="number", min=0, max=rec.cells - 1, step=1, value=cell),
            html.Button("▶", id="b-next", title="next cell (j or →)"),
        ])),
        labeled("kind", dcc.RadioItems(id="b-kind", options=[{"label": KIND_LABELS[k], "value": k}
                                                              for k in rec.kinds], value=kind, inline=True)),
        html.Span(id="b-label", className="cell-label"),
        html.A(id="b-span-link", className="span-link", hidden=True),
        # a page link: the click takes this view's query along (assets/cellscope.js), which /intervene reads
        html.A("Intervene on this cell →", href="/intervene", className="nav-link"),
    ])


def _colour_options(run, rec):
    """The "colour by" choices for this recording, advantage only where the n-gram's loss is beside it (else a
    hint that says how to make it)."""
    has_ngram = char_loss.has_ngram(rec)
    options = [{"label": label, "value": value, "disabled": value == "advantage" and not has_ngram}
               for value, label in COLOURS.items()]
    return options, None if has_ngram else f"advantage: {_ngram_hint(run, rec)}"


def _ngram_hint(run, rec):
    return char_loss.ngram_hint(data.run_dir(run), rec)


@callback(Output("b-colour", "options"), Output("b-colour", "value"), Output("b-colour-hint", "children"),
          Input("b-checkpoint", "value"), State("b-colour", "value"), State("b-run", "data"),
          prevent_initial_call=True)
def colour_choices(checkpoint, colour, run):
    """Another checkpoint may lack the n-gram's loss: then colour by the cell."""
    try:
        options, hint = _colour_options(run, data.open_recording(run, checkpoint))
    except CellscopeError:
        return no_update, no_update, no_update
    return options, "cell" if colour == "advantage" and hint else no_update, hint


def _window_controls(rec, start, size, top5):
    """Which text is shown and how: start (with page buttons), window size, guess rows, export."""
    return html.Div(className="controls", children=[
        *window_controls("b", rec, start, size, SIZES),
        dcc.RadioItems(id="b-view", options=[{"label": "text", "value": "text"},
                                             {"label": "text + top-5 guesses", "value": "top5"}],
                       value="top5" if top5 else "text", inline=True),
        html.Button("Export HTML", id="b-export", title="download this view as a standalone page"),
    ])


def _text_and_summary():
    """The text window, and beside it the cell's histogram and strongest positions."""
    return html.Div(className="main", children=[
        html.Div(id="b-text", className="cs-text text-window"),
        html.Aside(className="side", children=[
            html.H3("Activations over the whole recording"),
            dcc.Graph(id="b-hist", config={"displayModeBar": False}, className="hist"),
            html.H3(f"Strongest {EXCERPTS} positions (click to show)"),
            html.Div(id="b-excerpts", className="cs-text excerpts"),
        ]),
    ])


def _blocks(text, size=BLOCK):
    """[a, b) blocks of about `size` characters that end just after a newline where one is near."""
    a, blocks = 0, []
    while a < len(text):
        newline = text.find("\n", a + size, a + 2 * size)
        b = min(len(text), a + size if newline < 0 else newline + 1)
        blocks.append((a, b))
        a = b
    return blocks


@callback(Output("b-window", "data"), Output("b-where", "children"), Output("b-window-msg", "children"),
          Input("b-checkpoint", "value"), Input("b-start", "value"), Input("b-size", "value"),
          Input("b-view", "value"), State("b-run", "data"), State("b-concept", "data"))
def send_window(checkpoint, start, size, view, run, concept):
    """The window's uncoloured spans, once per (checkpoint, window), with its top-5 guesses and loss."""
    try:
        rec, start, stop, chars, probs = recorded_window(run, checkpoint, start, size, DEFAULT_SIZE, SIZES[-1])
    except CellscopeError as e:
        return no_update, "", notice(str(e))
    text, with_top5 = rec.window(start, stop), view == "top5"
    spans = "".join(
        '<div class="block">' + render_text(text[a:b], top5=(chars[a:b], probs[a:b]) if with_top5 else None,
                                            offset=start + a) + "</div>" for a, b in _blocks(text))
    window = {"key": f"{run}|{checkpoint}|{start}|{stop}|{view}|{concept}", "start": start, "stop": stop,
              "total": rec.n_chars, "html": spans, "marks": concept_marks(rec.text, concept, start, stop),
              **hover_data(chars, probs, rec.loss(start, stop))}
    return window, f"characters {start:,} to {stop:,} of {rec.n_chars:,}", None


def _series(rec, layer, cell, kind, start=0, stop=None):
    """The cell's raw values; a CellscopeError for a cell that is not there."""
    if layer is None or cell is None:
        raise CellscopeError("choose a layer and type a cell number")
    return rec.series(int(layer), int(cell), kind, start, stop)


def _scale(prefix, lo, hi, left, right, reverse=False):
    """A legend: the scale's N_LEVELS swatches between its two ends' labels."""
    levels = range(N_LEVELS - 1, -1, -1) if reverse else range(N_LEVELS)
    swatch = {"display": "inline-block", "width": "0.7em", "height": "1em", "verticalAlign": "middle"}
    return html.Span([f" {lo} ", *[html.Span(className=f"{prefix}{k}", style=swatch) for k in levels], f" {hi} ",
                      html.Span(f"({left} … {right})", className="where")])


def _loss_levels(run, rec, colour, start, stop):
    """(prefix, levels, legend) of the window coloured by loss or advantage, each character by its own loss."""
    prefix, what, (lo, hi), (left, right), reverse = char_loss.SCALES[colour]
    levels = char_loss.levels(rec, colour, char_loss.char_losses(rec, start, stop), data.run_dir(run))
    return prefix, levels, html.Span([f"{what}:", _scale(prefix, lo, hi, left, right, reverse)])


@callback(Output("b-values", "data"), Output("b-label", "children"), Output("b-values-msg", "children"),
          Input("b-checkpoint", "value"), Input("b-layer", "value"), Input("b-cell", "value"),
          Input("b-kind", "value"), Input("b-start", "value"), Input("b-size", "value"), Input("b-colour", "value"),
          State("b-run", "data"))
def send_levels(checkpoint, layer, cell, kind, start, size, colour, run):
    """The colour level for each character of the window (the chosen cell's, or its loss or advantage): all a
    cell switch sends."""
    try:
        rec = data.open_recording(run, checkpoint)
        start, stop = window_bounds(start, size, rec.n_chars, DEFAULT_SIZE, SIZES[-1])
        if colour in ("loss", "advantage"):
            prefix, levels, label = _loss_levels(run, rec, colour, start, stop)
        else:
            colour, prefix, label = "cell", "v", f"layer {layer} · cell {cell} · {KIND_LABELS[kind]}"
            levels = quantize(display_values(_series(rec, layer, cell, kind, start, stop), kind), *value_range(kind))
    except CellscopeError as e:
        return no_update, "", notice(str(e))
    lo, hi = value_range(kind)
    values = {"key": f"{checkpoint}|{layer}|{cell}|{kind}|{start}|{stop}" + ("" if colour == "cell" else f"|{colour}"),
              "start": start, "n": stop - start, "checkpoint": checkpoint, "layer": layer, "cell": cell, "kind": kind,
              "label": KIND_LABELS[kind], "lo": lo, "step": (hi - lo) / N_LEVELS, "colour": colour, "prefix": prefix,
              "levels": b64(levels)}
    return values, label, None


@callback(Output("b-exact", "data"), Input("b-exact-req", "data"), State("b-run", "data"),
          prevent_initial_call=True)
def send_exact(req, run):
    """Raw values of the shown cell for the hover box, sent only when the user hovers; when loss colours the text,
    each character's LSTM loss, followed by its n-gram loss where there is one."""
    try:
        rec = data.open_recording(run, req["checkpoint"])
        start, stop = window_bounds(req["start"], req["n"], rec.n_chars, DEFAULT_SIZE, SIZES[-1])
        if req["colour"] == "cell":
            raw = _series(rec, req["layer"], req["cell"], req["kind"], start, stop)
        else:
            raw = np.concatenate([x for x in char_loss.char_losses(rec, start, stop) if x is not None])
    except CellscopeError:
        return no_update
    return {"key": req["key"], "values": b64(raw.astype("<f4"))}


@callback(Output("b-hist", "figure"), Output("b-excerpts-data", "data"), Input("b-painted", "data"),
          State("b-checkpoint", "value"), State("b-layer", "value"), State("b-cell", "value"),
          State("b-kind", "value"), State("b-run", "data"))
def summarize_cell(_, checkpoint, layer, cell, kind, run):
    """The cell's histogram over the whole recording and its strongest positions, each in a short excerpt.

    Asked for once the text on screen shows the cell (b-painted), so it never delays the recolouring."""
    try:
        rec = data.open_recording(run, checkpoint)
        raw = _series(rec, layer, cell, kind)
    except CellscopeError:
        return no_update, no_update
    strongest = "".join(f'<div class="ex" data-pos="{pos}" data-start="{max(0, pos - JUMP_CONTEXT)}" '
                        f'title="show position {pos} in the text window">{spans}</div>'
                        for pos, spans in excerpts(rec, raw, kind, EXCERPTS, BEFORE, AFTER))
    title = f"{KIND_LABELS[kind]} of cell {layer}:{cell}, {rec.n_chars:,} positions"
    return histogram(display_values(raw, kind), kind, title), strongest


@callback(Output("b-download", "data"), Output("b-export-msg", "children"), Input("b-export", "n_clicks"),
          State("b-run", "data"), State("b-checkpoint", "value"), State("b-layer", "value"),
          State("b-cell", "value"), State("b-kind", "value"), State("b-start", "value"), State("b-size", "value"),
          State("b-view", "value"), State("b-colour", "value"), prevent_initial_call=True)
def export_view(_, run, checkpoint, layer, cell, kind, start, size, view, colour):
    """The current view (coloured as it is) as a standalone page, made by the same renderer as the CLI's."""
    try:
        if layer is None or cell is None:
            raise CellscopeError("choose a layer and type a cell number")
        start, stop = window_bounds(start, size, data.open_recording(run, checkpoint).n_chars, DEFAULT_SIZE, SIZES[-1])
        page = export_html(data.run_dir(run), int(layer), int(cell), kind, start, stop, checkpoints=[checkpoint],
                           top5=view == "top5", colour=colour or "cell")
    except CellscopeError as e:
        return no_update, notice(f"Export failed: {e}")
    name = f"{run}-{checkpoint}-cell-{layer}-{cell}-{kind}.html"
    return {"content": page, "filename": name, "type": "text/html"}, None


# The browser side: assets/browse.js paints and hovers the window, keeps the URL in step with the view and keeps
# the exact values for the hover box; the steppers and the excerpts' insertion are assets/cellscope.js's.
clientside_callback(ClientsideFunction("browse", "paint"), Input("b-window", "data"), Input("b-values", "data"))
register_steppers("b")
clientside_callback(ClientsideFunction("browse", "syncUrl"),
                    Input("b-checkpoint", "value"), Input("b-layer", "value"), Input("b-cell", "value"),
                    Input("b-kind", "value"), Input("b-start", "value"), Input("b-size", "value"),
                    Input("b-view", "value"), Input("b-colour", "value"), State("b-run", "data"),
                    State("b-concept", "data"))
clientside_callback(ClientsideFunction("cellscope", "showHtml"), Input("b-excerpts-data", "data"))
clientside_callback(ClientsideFunction("browse", "keepExact"), Input("b-exact", "data"))
follow_checkpoints("b-checkpoint", "b-run")
