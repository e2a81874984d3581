"""Alerts: filter, acknowledge (planner, marketer and admin roles)."""

from __future__ import annotations

import json
import logging

import dash
from dash import Input, Output, State, dash_table, dcc, html

from src.console.common import can, user
from src.console.data import ConsoleData

log = logging.getLogger(__name__)


def alerts_layout(data: ConsoleData) -> html.Div:
    ack = can("acknowledge")
    return html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.Label("Severity"),
                            dcc.Dropdown(
                                ["critical", "warning", "info"], multi=True, id="al-severity"
                            ),
                        ]
                    ),  # fmt: skip
                    html.Div(
                        [
                            html.Label("Area"),
                            dcc.Dropdown(
                                ["sales", "stock", "forecast", "recommendations"],
                                multi=True,
                                id="al-area",
                            ),
                        ]
                    ),  # fmt: skip
                    html.Div(
                        [
                            html.Label("Status"),
                            dcc.Dropdown(["open", "acknowledged"], "open", id="al-status"),
                        ]
                    ),  # fmt: skip
                    html.Button(
                        "Acknowledge selected",
                        id="al-ack",
                        className="btn",
                        disabled=not ack,
                        title="" if ack else "needs a planner, marketer or admin role",
                    ),  # fmt: skip
                ],
                className="controls",
            ),
            html.Div(id="al-result", className="muted"),
            dash_table.DataTable(
                id="al-table",
                columns=[
                    {"name": c, "id": c}
                    for c in [
                        "id",
                        "created_at",
                        "severity",
                        "area",
                        "rule",
                        "dimension",
                        "member",
                        "message",
                        "action",
                        "items",
                        "status",
                        "ack_by",
                        "ack_at",
                    ]
                ]
                + [{"name": "open", "id": "open", "presentation": "markdown"}],
                row_selectable="multi" if ack else False,
                page_size=20,
                sort_action="native",
                style_cell={
                    "textAlign": "left",
                    "whiteSpace": "normal",
                    "height": "auto",
                    "maxWidth": "420px",
                    "fontSize": "13px",
                },
            ),  # fmt: skip
        ]
    )


def register(app: dash.Dash, data: ConsoleData) -> None:
    """This page's callbacks."""

    @app.callback(Output("al-table", "data"), Output("al-result", "children"),
                  Output("al-table", "selected_rows"),
                  Input("al-severity", "value"), Input("al-area", "value"),
                  Input("al-status", "value"), Input("al-ack", "n_clicks"),
                  State("al-table", "data"), State("al-table", "selected_rows"))  # fmt: skip
    def alert_rows(severity, area, status, n_ack, rows, selected):
        note = ""
        if dash.ctx.triggered_id == "al-ack" and selected:
            if not can("acknowledge"):
                note = "Acknowledging needs a planner, marketer or admin role."
            else:
                ids = [rows[i]["id"] for i in selected if i < len(rows)]
                done = [i for i in ids if data.store.acknowledge(i, user().name)]
                note = f"Acknowledged {len(done)} alert(s) as {user().name}."
        out = []
        for a in data.alerts():
            if severity and a["severity"] not in severity:
                continue
            if area and a["area"] not in area:
                continue
            if status and a["status"] != status:
                continue
            items = a["items"]
            out.append({**a, "created_at": f"{a['created_at']:%Y-%m-%d %H:%M}",
                        "ack_at": f"{a['ack_at']:%Y-%m-%d %H:%M}" if a["ack_at"] else "",
                        "items": "; ".join(json.loads(items)[:5]) if items else "",
                        "open": f"[open]({a['link']})"})  # fmt: skip
        return out, note, []
