"""What every page does the same way: read the URL's run and checkpoint, explain bad parameters, encode arrays.

Pages default a bad URL parameter and say so in a notice above the view rather than failing, so a shared link
always opens something. (No page is registered here: Dash imports only modules that mention that call.)
"""
import base64

import numpy as np
from dash import ClientsideFunction, Input, Output, State, clientside_callback, dcc, html

from model import rundir
from model.errors import CellscopeError
from viz.app import data


def b64(array):
    """An array's bytes for the browser (one byte per character for colour levels)."""
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def labeled(label, control):
    """A control with its label, as every page's control rows show them."""
    return html.Div([html.Span(label, className="label"), control], className="control")


def notice(*lines, cls="msg error"):
    return html.Div([html.P(line) if isinstance(line, str) else line for line in lines], className=cls, role="alert")


def job_controls(prefix):
    """A background job's progress bar and cancel button, shown only while it runs (ids PREFIX-job,
    -progress, -cancel); job_arguments(prefix) wires them to the callback."""
    return html.Div([html.Progress(id=f"{prefix}-progress", className="job-progress"),
                     html.Button("cancel", id=f"{prefix}-cancel")], id=f"{prefix}-job", className="job",
                    style={"display": "none"})


def job_arguments(prefix):
    """Keyword arguments for a Dash background callback (run by the app's disk-cache manager, so it survives
    several server workers): its progress goes to job_controls(prefix), whose button cancels it. The callback
    takes set_progress first and calls it with (done, total) as strings."""
    return dict(background=True, interval=250,  # the page asks how the job is doing 4 times a second
                progress=[Output(f"{prefix}-progress", "value"), Output(f"{prefix}-progress", "max")],
                cancel=[Input(f"{prefix}-cancel", "n_clicks")],
                running=[(Output(f"{prefix}-job", "style"), {"display": "flex"}, {"display": "none"})])


def int_param(name, raw, default, lo, hi, problems):
    """A whole-number URL parameter in [lo, hi]; anything else is explained in `problems` and gives the default."""
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        problems.append(f"{name}={raw!r} is not a whole number; showing {name} {default}.")
        return default
    if not lo <= value <= hi:
        problems.append(f"{name}={value} is out of range ({lo} to {hi}); showing {name} {default}.")
        return default
    return value


def cell_and_window(rec, layer, cell, start, size, default_size, largest, problems):
    """The URL's layer, cell, window start and size, each checked against the recording (a bad one explained
    in `problems` and replaced by its default)."""
    return (int_param("layer", layer, 0, 0, rec.layers - 1, problems),
            int_param("cell", cell, 0, 0, rec.cells - 1, problems),
            int_param("start", start, 0, 0, max(rec.n_chars - 1, 0), problems),
            int_param("size", size, default_size, 1, largest, problems))


def window_bounds(start, size, n, default_size, largest):
    """[start, stop) of a text window clamped to the recording, the same on every request."""
    start = min(max(int(start or 0), 0), max(n - 1, 0))
    size = min(max(int(size or default_size), 1), largest)
    return start, min(n, start + size)


def unfinished_recordings(run):
    """A line per recording begun and not finished: in progress now, or interrupted (with the command to redo)."""
    partial = rundir.partial_recordings(data.run_dir(run))
    if not partial:
        return []
    if rundir.is_writing(data.run_dir(run), "record"):
        return [f"Being recorded now: {', '.join(partial)}; it appears here when done."]
    return [f"The recording of {name} was interrupted. Record it again with: "
            f"python -m model.record {data.run_dir(run)} --checkpoint {name}" for name in partial]


def choose_recording(run, checkpoint, problems, record_flags=""):
    """(run, its recorded checkpoints oldest first, checkpoint) as the URL names them, a bad name replaced by the
    default (first run, newest checkpoint) and explained in `problems`; or the notice to show when nothing can be."""
    names = list(data.runs())
    if not names:
        return notice("No runs here yet. Train one with: python -m model.train CORPUS --run runs/NAME --record "
                      "(serve the folder, python app.py runs/, and new runs appear on the next page load)")
    if run is not None and run not in names:
        problems.append(f"There is no run {run!r} here (served: {', '.join(names)}); showing {names[0]}.")
    run = run if run in names else names[0]
    problems.extend(unfinished_recordings(run))
    found = list(data.recordings(run))
    if not found:
        return notice(f"Run {run} has no recordings yet. Record its checkpoints with:",
                      html.Pre(f"python -m model.record {data.run_dir(run)}{record_flags}", className="command"),
                      "(or train with --record). This page opens the first recording when it is written.",
                      html.Span(className="awaiting-recording", **{"data-run": run}))
    if checkpoint is not None and checkpoint not in found:
        problems.append(f"Run {run} has no recording of checkpoint {checkpoint!r} (recorded: {', '.join(found)}); "
                        f"showing {found[-1]}.")
    return run, found, checkpoint if checkpoint in found else found[-1]


def recorded_window(run, checkpoint, start, size, default_size, largest):
    """(recording, start, stop, top-5 chars, top-5 probabilities) of the text window a page shows; a
    CellscopeError says why it cannot be."""
    rec = data.open_recording(run, checkpoint)
    start, stop = window_bounds(start, size, rec.n_chars, default_size, largest)
    return (rec, start, stop, *rec.top5(start, stop))


def chosen_view(run, checkpoint, layer, cell, start, size, default_size, largest):
    """The view a URL names on one recording: (problems, run, recorded checkpoints, checkpoint, recording, layer,
    cell, start, size), each bad parameter replaced by its default and explained in problems; or the notice to
    show instead (with the command that records it again)."""
    problems = []
    chosen = choose_recording(run, checkpoint, problems)
    if not isinstance(chosen, tuple):
        return chosen
    run, found, checkpoint = chosen
    try:
        rec = data.open_recording(run, checkpoint)
    except CellscopeError as e:
        return notice(f"Cannot open the recording of {checkpoint}: {e}", "Record it again with:",
                      html.Pre(f"python -m model.record {data.run_dir(run)} --checkpoint {checkpoint}",
                               className="command"))
    return (problems, run, found, checkpoint, rec,
            *cell_and_window(rec, layer, cell, start, size, default_size, largest, problems))


def window_controls(prefix, rec, start, size, sizes, where="where"):
    """Which text a page shows: start (with page buttons; the one stepPage of assets/cellscope.js moves it),
    window size, and where the window is. Ids: PREFIX-start, -page-prev, -page-next, -size, -WHERE."""
    return [
        labeled("start", dcc.Input(id=f"{prefix}-start", type="number", min=0, max=max(rec.n_chars - 1, 0), step=1,
                                   value=start, debounce=True)),
        html.Button("◀ page", id=f"{prefix}-page-prev"),
        html.Button("page ▶", id=f"{prefix}-page-next"),
        labeled("window", dcc.Dropdown(id=f"{prefix}-size", options=sorted({*sizes, size}), value=size,
                                       clearable=False)),
        html.Span(id=f"{prefix}-{where}", className="where"),
    ]


def register_steppers(prefix):
    """The browser-side cell stepper (◀ ▶ through every layer's cells) and page stepper of a page whose ids are
    PREFIX-layer, -cell, -prev, -next, -shape, -start, -size, -page-prev, -page-next (assets/cellscope.js)."""
    clientside_callback(ClientsideFunction("cellscope", "stepCell"), Output(f"{prefix}-layer", "value"),
                        Output(f"{prefix}-cell", "value"), Input(f"{prefix}-prev", "n_clicks"),
                        Input(f"{prefix}-next", "n_clicks"), State(f"{prefix}-layer", "value"),
                        State(f"{prefix}-cell", "value"), State(f"{prefix}-shape", "data"), prevent_initial_call=True)
    clientside_callback(ClientsideFunction("cellscope", "stepPage"), Output(f"{prefix}-start", "value"),
                        Input(f"{prefix}-page-prev", "n_clicks"), Input(f"{prefix}-page-next", "n_clicks"),
                        State(f"{prefix}-start", "value"), State(f"{prefix}-size", "value"),
                        State(f"{prefix}-start", "max"), prevent_initial_call=True)
