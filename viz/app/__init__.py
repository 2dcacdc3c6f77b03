"""The Dash app: a header (page links, run selector) above one page per module of this folder.

Adding a view is dropping a module here that calls `dash.register_page(__name__, path=...)`: Dash imports
every .py file in the pages folder whose source mentions that call (names starting with "_" are skipped, and so
is data.py, which never mentions it), once per `create_app`, so each app gets its own callbacks. Dash is named
"viz" with pages_folder "app" so that it gives each page its real module name (viz.app.browse).

Pages read their state from the URL query (layout(**query)): ?run=&checkpoint=&layer=&cell=&kind=&start=...
so any view can be shared as a link. A run is named by its folder name and only the runs given to create_app
can be opened, or the runs inside a folder given to it (viz/app/data.py); viz/app/live.py keeps an open page
up to date with them.
"""
import tempfile
from pathlib import Path

import dash
import diskcache
from dash import ClientsideFunction, DiskcacheManager, Input, Output, State, dcc, html

from viz.app import data, live
from viz.text_html import TEXT_CSS

ROOT = Path(__file__).resolve().parents[2]
JOBS = Path(tempfile.gettempdir()) / "cellscope-jobs"


def create_app(run_dirs):
    data.set_runs(run_dirs)
    # Long work (scoring many checkpoints or concepts) runs as background callbacks: jobs in their own processes,
    # their state in a disk cache that every worker of a WSGI server on this machine shares.
    jobs = DiskcacheManager(diskcache.Cache(JOBS))
    app = dash.Dash("viz", use_pages=True, pages_folder="app", assets_folder=str(ROOT / "assets"),
                    title="cellscope", update_title=None, suppress_callback_exceptions=True,
                    background_callback_manager=jobs)
    # The text colours come from viz.colors through TEXT_CSS, the same stylesheet the export inlines.
    app.index_string = app.index_string.replace("{%css%}", "{%css%}\n<style>\n" + TEXT_CSS + "</style>")

    def layout():
        """Built on every page load, so a run that appeared since is in the selector."""
        state = live.served_state()
        return html.Div([
            html.Header(className="top", children=[
                html.Span("cellscope", className="brand"),
                html.Nav([html.A(page["name"], href=page["relative_path"], className="nav-link")
                          for page in dash.page_registry.values()]),
                dcc.Dropdown(id="run-select", options=live.run_options(state), value=next(iter(state), None),
                             clearable=False, searchable=False, className="run-select"),
            ]),
            *live.layout(state),
            dash.page_container,
        ])
    app.layout = layout
    live.register(app)
    # The selector shows the URL's run; choosing another opens the same page on that run.
    app.clientside_callback(ClientsideFunction("cellscope", "showRun"), Output("run-select", "value"),
                            Input("_pages_location", "pathname"), State("run-select", "options"))
    app.clientside_callback(ClientsideFunction("cellscope", "openRun"), Input("run-select", "value"),
                            prevent_initial_call=True)
    return app
