"""Planning: reorder suggestions and transfers with filters, a SKU's forecast fan chart with
its history, CSV export, order-routing KPIs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlencode

import dash
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, dash_table, dcc, html

from src.console.common import can
from src.console.data import ConsoleData
from src.features import columns as C

log = logging.getLogger(__name__)

TEXT_COLUMNS = {C.LOCATION_ID, C.SKU, C.CATEGORY, "abc_class", "xyz_class", "reason"}
MAX_ROWS = 500  # rows sent to the planning table; the CSV export has every row
PLAN_COLUMNS = [
    C.LOCATION_ID, C.SKU, C.CATEGORY, "abc_class", "xyz_class", C.ON_HAND, C.ON_ORDER,
    "inventory_position", "safety_stock", "reorder_point", "order_qty", "order_value",
    "days_of_cover", "expected_fill_rate", "reason",
]  # fmt: skip


def planning_layout(data: ConsoleData, query: Mapping) -> html.Div:
    s = data.suggestions()
    if s is None:
        return html.Div("No reorder plan yet: run `make run` (or `make plan`).", className="card")
    locations = sorted(s[C.LOCATION_ID].astype(str).unique())
    top = s.sort_values("order_value", ascending=False)[C.SKU].astype(str).drop_duplicates()
    skus = top.head(300).tolist()
    export = can("export_plan")
    transfers = data.transfers()
    return html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.Label("Location"),
                            dcc.Dropdown(locations, multi=True, id="pl-location"),
                        ]
                    ),  # fmt: skip
                    html.Div(
                        [
                            html.Label("ABC"),
                            dcc.Checklist(
                                ["A", "B", "C"],
                                [query["abc"]] if query.get("abc") in ("A", "B", "C") else [],
                                id="pl-abc",
                                inline=True,
                            ),
                        ]
                    ),  # fmt: skip
                    html.Div(
                        [
                            dcc.Checklist(
                                [{"label": " only orders", "value": "orders"}],
                                ["orders"] if query.get("only_orders") == "1" else [],
                                id="pl-orders",
                            )
                        ]
                    ),  # fmt: skip
                    html.A(
                        "Export CSV",
                        id="pl-export",
                        className="btn",
                        href="/export/plan.csv",
                        style={} if export else {"display": "none"},
                    ),  # fmt: skip
                ],
                className="controls",
            ),
            html.Div(id="pl-count", className="muted"),
            dash_table.DataTable(
                id="pl-table",
                columns=[
                    {
                        "name": c.replace("_", " "),
                        "id": c,
                        **(
                            {
                                "type": "numeric",
                                "format": {
                                    "specifier": ".1%" if c == "expected_fill_rate" else ",.1f"
                                },
                            }
                            if c not in TEXT_COLUMNS
                            else {}
                        ),
                    }
                    for c in PLAN_COLUMNS
                    if c in s
                ],
                page_size=15,
                sort_action="native",
                style_table={"overflowX": "auto"},
                style_cell={
                    "textAlign": "left",
                    "fontSize": "13px",
                    "whiteSpace": "normal",
                    "height": "auto",
                    "minWidth": "70px",
                },
                style_cell_conditional=[
                    {"if": {"column_id": "reason"}, "minWidth": "460px", "width": "460px"}
                ],
            ),  # fmt: skip
            html.Div(
                [
                    html.Div(
                        [
                            html.Label("SKU"),
                            dcc.Dropdown(skus, skus[0] if skus else None, id="pl-sku"),
                        ],
                        style={"maxWidth": "320px"},
                    ),  # fmt: skip
                    dcc.Graph(id="pl-fan"),
                ],
                className="card",
            ),
            html.Div(
                [
                    html.H4("Transfers"),
                    html.Div(
                        "No transfers in this plan (no location has stock another is short of)."
                        if transfers is None or transfers.empty
                        else f"{len(transfers):,} transfers before buying.",
                        className="muted",
                    ),
                    dash_table.DataTable(
                        id="pl-transfers",
                        page_size=10,
                        columns=[
                            {"name": c.replace("_", " "), "id": c}
                            for c in ([] if transfers is None else transfers.columns)
                        ],
                    ),
                ],
                className="card",
            ),
            html.Div(routing_section(data), className="card"),
        ]
    )


def routing_section(data: ConsoleData) -> list:
    """Routing KPIs of the last `make route-orders`: cost, parcels and where orders ship from."""
    got = data.routing()
    if got is None:
        return [html.H4("Order routing"), html.Div(
            "No routed orders yet: `make route-orders` routes a day's online orders.",
            className="muted")]  # fmt: skip
    summary, lines = got
    kpis = [
        ("orders routed", f"{summary['orders']:,}"),
        ("cost per order", f"{summary['cost_per_order']:.2f}"),
        ("parcels per order", f"{summary['shipments'] / max(summary['orders'], 1):.2f}"),
        ("orders shipped from stores", f"{summary['orders_from_stores'] / max(summary['orders'], 1):.1%}"),
        ("lines unfilled", f"{summary['unfilled_lines']:,}"),
    ]  # fmt: skip
    routed = lines[lines["status"] == "routed"]
    per_node = (routed.drop_duplicates(["order_id", C.LOCATION_ID])
                .groupby(C.LOCATION_ID).size().sort_values(ascending=False))  # fmt: skip
    fig = go.Figure(go.Bar(x=per_node.index.astype(str), y=per_node.values))
    fig.update_layout(height=300, margin={"t": 40},
                      title=f"Parcels per node ({summary['policy']} policy)")  # fmt: skip
    return [
        html.H4("Order routing (last `make route-orders`)"),
        html.Div(
            [
                html.Div(
                    [html.Div(k, className="label"), html.Div(v, className="value")],
                    className="tile",
                )
                for k, v in kpis
            ],
            className="tiles",
            id="pl-routing-kpis",
        ),  # fmt: skip
        dcc.Graph(figure=fig, id="pl-routing-nodes"),
    ]


def filtered_plan(data: ConsoleData, locations, abc, orders) -> pd.DataFrame:
    s = data.suggestions()
    if s is None:
        return pd.DataFrame(columns=PLAN_COLUMNS)
    if locations:
        s = s[s[C.LOCATION_ID].astype(str).isin(locations)]
    if abc:
        s = s[s["abc_class"].isin(abc)]
    if orders:
        s = s[s["order_qty"] > 0]
    return s[[c for c in PLAN_COLUMNS if c in s]].sort_values("order_value", ascending=False)


def fan_chart(data: ConsoleData, sku: str | None) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(height=360, margin={"l": 40, "r": 10, "t": 30, "b": 30},
                      title=f"{sku}: history and forecast" if sku else "choose a SKU")  # fmt: skip
    if not sku:
        return fig
    f = data.forecast(sku)
    if f is not None:
        for lo, hi, name, alpha in (
            ("q0.025", "q0.975", "95%", 0.15),
            ("q0.25", "q0.75", "50%", 0.3),
        ):
            if lo in f and hi in f:
                fig.add_trace(go.Scatter(x=f.index, y=f[hi], line={"width": 0}, showlegend=False,
                                         hoverinfo="skip"))  # fmt: skip
                fig.add_trace(go.Scatter(x=f.index, y=f[lo], fill="tonexty", line={"width": 0},
                                         fillcolor=f"rgba(79,140,255,{alpha})", name=name))  # fmt: skip
        if "y_hat" in f:
            fig.add_trace(go.Scatter(x=f.index, y=f["y_hat"], name="forecast",
                                     line={"color": "#1f4fbf"}))  # fmt: skip
    h = data.history(sku)
    if h is not None:
        fig.add_trace(go.Scatter(x=h["ds"], y=h[C.Y], name="sold", mode="lines",
                                 line={"color": "#333"}))  # fmt: skip
    return fig


def register(app: dash.Dash, data: ConsoleData) -> None:
    """This page's callbacks."""

    @app.callback(Output("pl-table", "data"), Output("pl-count", "children"),
                  Output("pl-export", "href"), Output("pl-transfers", "data"),
                  Input("pl-location", "value"), Input("pl-abc", "value"),
                  Input("pl-orders", "value"))  # fmt: skip
    def plan_rows(locations, abc, orders):
        plan = filtered_plan(data, locations, abc, bool(orders))
        q = [("location", x) for x in locations or []] + [("abc", x) for x in abc or []]
        if orders:
            q.append(("orders", "1"))
        n_orders = int((plan["order_qty"] > 0).sum())
        value = plan.loc[plan["order_qty"] > 0, "order_value"].sum()
        t = data.transfers()
        rows = plan.head(MAX_ROWS).round(2).to_dict("records")
        shown = (
            f" (the {MAX_ROWS} largest orders shown; the export has all)"
            if len(plan) > MAX_ROWS
            else ""
        )
        return (rows, f"{len(plan):,} SKU x locations; {n_orders:,} orders worth {value:,.0f}{shown}",
                "/export/plan.csv" + ("?" + urlencode(q) if q else ""),
                [] if t is None else t.round(2).to_dict("records"))  # fmt: skip

    @app.callback(Output("pl-fan", "figure"), Input("pl-sku", "value"))
    def fan(sku):
        return fan_chart(data, sku)
