"""Live runs: what the open page learns from a cheap poll, a few seconds apart, that only lists and stats files.

The run selector lists the runs served now (a run trained after the app started appears), marking those
training now with their iteration and loss; a banner under the header shows the chosen run's training progress
(iteration, loss, ETA, the loss curve so far, or why training stopped); a page's checkpoint list gains the
checkpoints recorded since it opened (follow_checkpoints); and a page waiting for a run's first recording
reloads itself when it is written.
"""
import time
from urllib.parse import parse_qs

from dash import ClientsideFunction, Input, Output, State, callback, dcc, html, no_update

from model import rundir
from viz.app import data
from viz.app.common import notice
from viz.figures import loss_curve

POLL_MS = 3000


def layout(state):
    """The poll, what it last saw of every served run (state: served_state()), and the training banner."""
    return [dcc.Interval(id="poll", interval=POLL_MS), dcc.Store(id="served", data=state),
            dcc.Store(id="training-seen"), html.Div(id="training")]


def served_state():
    """{run: {recordings, checkpoints, training}} for every served run: what the open page compares against."""
    state = {}
    for name, path in data.runs().items():  # one listing of the served folders for all of them
        state[name] = {"recordings": list(rundir.recordings(path)), "checkpoints": len(rundir.checkpoints(path)),
                       "training": data.training_status(path)}
    return state


def run_label(name, status):
    if status is None:
        return name
    parts = [f"iteration {status['iteration']:,.0f}" if status["iteration"] is not None else "starting"]
    if status["train_loss"] is not None:
        parts.append(f"loss {status['train_loss']:.3f}")
    return f"{name} · training: {', '.join(parts)}"


def run_options(state):
    return [{"label": run_label(name, s["training"]), "value": name} for name, s in state.items()]


def duration(seconds):
    seconds = max(0, round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m {seconds % 60:02d}s"


def eta(progress, status):
    """(fraction done, seconds left) of this training session by its budget (progress.json), or None."""
    now, started = time.time(), progress.get("started")
    if progress.get("deadline") and started:
        total = progress["deadline"] - started
        return min(1.0, (now - started) / total) if total > 0 else 1.0, progress["deadline"] - now
    first, last, done = progress.get("first_iteration"), progress.get("last_iteration"), status["iteration"]
    if last and started and done is not None and done > first:
        fraction = (done - first) / (last - first)
        return min(1.0, fraction), (now - started) * (1 - fraction) / fraction
    return None


def banner(run, status):
    """The chosen run's training now (progress, loss, ETA, loss curve) or why it stopped; None when neither."""
    progress = rundir.read_progress(data.run_dir(run))
    if status is None:
        if progress.get("state") == "failed":
            return notice(f"Training of {run} failed: {progress.get('error', 'no reason was written')}")
        if progress.get("state") == "training":
            return notice(f"Training of {run} stopped before its budget (no trainer holds the run now): continue "
                          f"it with python -m model.train CORPUS --run {data.run_dir(run)} --resume")
        return None
    line = [f"Training {run} now: "]
    line.append(f"iteration {status['iteration']:,.0f}" if status["iteration"] is not None else "starting")
    if status["train_loss"] is not None:
        line.append(f", train loss {status['train_loss']:.3f}")
    bar = None
    budget = eta(progress, status)
    if budget is not None:
        fraction, left = budget
        line.append(f", {fraction:.0%} done, about {duration(left)} left")
        bar = html.Progress(value=f"{fraction:.3f}", max="1", className="training-bar")
    line.append(". New checkpoints appear here as they are recorded.")
    log = data.read_log(run)
    curve = dcc.Graph(figure=loss_curve(log).update_layout(height=180), config={"displayModeBar": False},
                      className="training-curve") if len(log) else None
    return html.Div([html.P("".join(line)), bar, curve], className="msg training", role="status")


def shown_run(search, state):
    """The run the page shows: the URL's, else the first served one (as the pages choose)."""
    asked = parse_qs((search or "").lstrip("?")).get("run", [None])[0]
    return asked if asked in state else next(iter(state), None)


def follow_checkpoints(dropdown, run_store, multi=False):
    """Keep a page's checkpoint list (`dropdown`) up to the run's recordings as the poll sees them. A multi
    dropdown that showed every checkpoint goes on showing every one, so Compare gains a row per new checkpoint."""
    @callback(Output(dropdown, "options"), Output(dropdown, "value", allow_duplicate=True), Input("served", "data"),
              State(run_store, "data"), State(dropdown, "options"), State(dropdown, "value"),
              prevent_initial_call=True)
    def follow(state, run, options, value):
        found = (state or {}).get(run, {}).get("recordings")
        if not found or found == options:
            return no_update, no_update
        if multi and value is not None and list(value) == list(options or []):
            return found, found
        return found, no_update


def register(app):
    """The poll's callbacks, once per app (the pages' own come with each page)."""
    @app.callback(Output("served", "data"), Output("run-select", "options"), Input("poll", "n_intervals"),
                  State("served", "data"))
    def poll(_, seen):
        state = served_state()
        return (no_update, no_update) if state == seen else (state, run_options(state))

    @app.callback(Output("training", "children"), Output("training-seen", "data"), Input("served", "data"),
                  Input("_pages_location", "search"), State("training-seen", "data"))
    def show_training(state, search, seen):
        run = shown_run(search, state or {})
        if run is None:
            return None, None
        status = state[run]["training"]
        key = [run, status, rundir.read_progress(data.run_dir(run)).get("state")]
        return (no_update, no_update) if key == seen else (banner(run, status), key)

    # A page waiting for its run's first recording (common.choose_recording's notice) reloads when one appears.
    app.clientside_callback(ClientsideFunction("cellscope", "reloadWhenRecorded"), Input("served", "data"))
