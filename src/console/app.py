"""The web console (`make console`): Dash + plotly on Flask, login required, roles enforced.

Pages: *Overview* (KPI tiles with sparklines and period-over-period change, drill-down by
channel / location / category / segment, date range), *Alerts* (filter, acknowledge), *Planning*
(reorder suggestions and transfers with filters, a SKU's forecast fan chart with its history,
CSV export, order-routing KPIs), *Customers* (segment sizes and flows, top customers, audience downloads, campaign
results with ROI and Qini) and
*Models* (champions and challengers, links into the MLflow UI).

Why Dash: it is plotly's own framework, maintained, pure Python (our users are ML engineers,
not front-end developers), and a Flask app underneath, so login, roles and CSV exports are plain
Flask routes checked on the server, not hidden buttons.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from urllib.parse import parse_qs

import dash
from dash import Input, Output, State, dcc, html

from src.console import server as routes
from src.console.auth import load_users
from src.console.common import STYLE, user
from src.console.data import ConsoleData
from src.console.pages import alerts, customers, models, overview, planning

ENV_SECRET = "RETAIL_BRAIN_CONSOLE_SECRET"
#: path, label, the page's layout and its callbacks (None: a page without callbacks)
PAGES = [
    ("/overview", "Overview", overview.overview_layout, overview.register),
    ("/alerts", "Alerts", lambda data, query: alerts.alerts_layout(data), alerts.register),
    ("/planning", "Planning", planning.planning_layout, planning.register),
    ("/customers", "Customers", lambda data, query: customers.customers_layout(data), None),
    ("/models", "Models", lambda data, query: models.models_layout(data), None),
]


def create_app(config: Mapping, users: Mapping | None = None) -> dash.Dash:
    """The console: the server routes, the navigation and every page's callbacks composed."""
    users = dict(users) if users is not None else load_users()
    data = ConsoleData(config)
    data.warm()
    app = dash.Dash(
        __name__, title="retail-brain console", suppress_callback_exceptions=True,
        update_title=None, serve_locally=True,
    )  # fmt: skip
    server = app.server
    server.secret_key = os.environ.get(ENV_SECRET) or secrets.token_hex(32)
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    app.index_string = app.index_string.replace("{%css%}", "{%css%}<style>" + STYLE + "</style>")
    routes.register(server, data, users)
    app.layout = html.Div([dcc.Location(id="url"), html.Div(id="nav", className="nav"),
                           html.Div(id="page", className="page")])  # fmt: skip
    layouts = {path: layout for path, _, layout, _ in PAGES}
    labels = {path: label for path, label, _, _ in PAGES}

    @app.callback(Output("nav", "children"), Output("page", "children"),
                  Input("url", "pathname"), State("url", "search"))  # fmt: skip
    def route(pathname, search):
        query = {k: v[0] for k, v in parse_qs((search or "").lstrip("?")).items()}
        path = pathname if pathname in layouts else "/overview"
        n_open = data.store.open_count()
        label_of = {**labels, "/alerts": f"Alerts ({n_open} open)" if n_open else "Alerts"}
        links = [html.A(label_of[p], href=p, className="active" if p == path else "",
                        id=f"nav-{p[1:]}") for p in layouts]  # fmt: skip
        u = user()
        links.append(html.Span([f"{u.name} · {u.role} · ", html.A("sign out", href="/logout")],
                               className="who"))  # fmt: skip
        return links, layouts[path](data, query)

    for _, _, _, register in PAGES:
        if register is not None:
            register(app, data)
    return app
