"""Overview: KPI tiles with sparklines and period-over-period change, drill-down by channel /
location / category / segment, date range."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import dash
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, dcc, html

from src.console.data import ConsoleData
from src.monitor import kpis as K

log = logging.getLogger(__name__)

TILES = [
    "net_sales", "orders", "aov", "active_customers", "new_customers", "repeat_rate",
    "return_rate", "gross_margin", "inventory_value", "days_of_cover", "stockout_rate",
    "lost_sales", "forecast_wape", "forecast_coverage95", "rec_hit_rate",
]  # fmt: skip
DIMENSIONS = ["total", "channel", "location", "category", "segment"]


# --- formatting -------------------------------------------------------------------------------
def sparkline(s: pd.Series) -> go.Figure:
    fig = go.Figure(go.Scatter(x=s.index, y=s.values, mode="lines", line={"width": 1.5}))
    fig.update_layout(
        height=48, margin={"l": 0, "r": 0, "t": 2, "b": 2}, xaxis={"visible": False},
        yaxis={"visible": False}, paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
        showlegend=False,
    )  # fmt: skip
    return fig


def _grain_of(kpi: str, grain: str) -> str:
    source = K.KPIS[kpi].source
    return "snapshot" if source == "stock" else ("day" if source != "sales" else grain)


def tile(data: ConsoleData, kpi: str, grain: str, dimension: str, member: str, start, end):
    g = _grain_of(kpi, grain)
    dim, mem = (dimension, member)
    if K.KPIS[kpi].source != "sales" and dimension in ("channel", "segment"):
        dim, mem = "total", K.ALL  # stock and model KPIs have no channel / segment slice
    s = data.kpi(kpi, g, dim, mem)
    if len(s) and start and end:
        s = s[(s.index >= pd.Timestamp(start)) & (s.index <= pd.Timestamp(end))]
    info = K.KPIS[kpi]
    if s.empty:
        value, change, cls = "n/a", "no data in this slice", "flat"
    else:
        value = K.fmt(s.iloc[-1], kpi)
        if len(s) > 1 and s.iloc[-2] not in (0,) and np.isfinite(s.iloc[-2]):
            ch = s.iloc[-1] / s.iloc[-2] - 1
            good = info.higher_is_better
            cls = (
                "flat" if good is None or abs(ch) < 1e-9 else ("up" if (ch > 0) == good else "down")
            )
            change = f"{ch:+.1%} vs previous {g if g != 'snapshot' else 'plan'}"
        else:
            change, cls = f"{g} {s.index[-1]:%Y-%m-%d}", "flat"
    return html.Div(
        [
            html.Div(info.label, className="label", title=info.definition),
            html.Div(value, className="value"),
            html.Div(change, className=cls, style={"fontSize": "12px"}),
            dcc.Graph(
                figure=sparkline(s),
                config={"displayModeBar": False, "staticPlot": True},
                style={"height": "48px"},
            )
            if len(s) > 1
            else html.Div(style={"height": "48px"}),
        ],  # fmt: skip
        className="tile",
        id=f"tile-{kpi}",
    )


# --- pages ------------------------------------------------------------------------------------
def overview_layout(data: ConsoleData, query: Mapping) -> html.Div:
    k = data.kpis()
    if k is None:
        return html.Div("No KPI table yet: run `make run` (or `make monitor`).", className="card")
    periods = k["periods"]
    last = periods.max()
    first = max(periods.min(), last - pd.Timedelta(days=182))
    dim = query.get("dimension", "total")
    kpi = query.get("kpi", "net_sales")
    return html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.Label("Grain"),
                            dcc.Dropdown(["day", "week"], "week", id="ov-grain", clearable=False),
                        ]
                    ),  # fmt: skip
                    html.Div(
                        [
                            html.Label("Drill down by"),
                            dcc.Dropdown(
                                DIMENSIONS,
                                dim if dim in DIMENSIONS else "total",
                                id="ov-dimension",
                                clearable=False,
                            ),
                        ]
                    ),  # fmt: skip
                    html.Div(
                        [html.Label("Member"), dcc.Dropdown(id="ov-member", clearable=False)],
                        style={"minWidth": "240px"},
                    ),  # fmt: skip
                    html.Div(
                        [
                            html.Label("Dates"),
                            dcc.DatePickerRange(
                                id="ov-dates",
                                start_date=first.date(),
                                end_date=last.date(),
                                min_date_allowed=periods.min().date(),
                                max_date_allowed=last.date(),
                                display_format="YYYY-MM-DD",
                            ),
                        ]
                    ),  # fmt: skip
                ],
                className="controls",
            ),
            html.Div(id="ov-tiles", className="tiles"),
            html.Div(
                [
                    html.Div(
                        [
                            html.Label("KPI by member"),
                            dcc.Dropdown(
                                [
                                    {"label": K.KPIS[t].label, "value": t}
                                    for t in TILES
                                    if K.KPIS[t].source == "sales"
                                ],
                                kpi if kpi in K.KPIS else "net_sales",
                                id="ov-kpi",
                                clearable=False,
                            ),
                        ],
                        style={"maxWidth": "320px"},
                    ),  # fmt: skip
                    dcc.Graph(id="ov-breakdown"),
                ],
                className="card",
            ),
        ]
    )


def register(app: dash.Dash, data: ConsoleData) -> None:
    """This page's callbacks."""

    @app.callback(Output("ov-member", "options"), Output("ov-member", "value"),
                  Input("ov-dimension", "value"), Input("ov-grain", "value"))  # fmt: skip
    def members(dimension, grain):
        if dimension == "total":
            return [K.ALL], K.ALL
        frame = data.frame("net_sales", grain, dimension)
        order = frame.groupby(K.MEMBER)[K.VALUE].sum().sort_values(ascending=False).index.tolist()
        return order, (order[0] if order else None)

    @app.callback(Output("ov-tiles", "children"),
                  Input("ov-grain", "value"), Input("ov-dimension", "value"),
                  Input("ov-member", "value"), Input("ov-dates", "start_date"),
                  Input("ov-dates", "end_date"))  # fmt: skip
    def tiles(grain, dimension, member, start, end):
        if member is None:
            return dash.no_update
        return [tile(data, k, grain, dimension, member, start, end) for k in TILES]

    @app.callback(Output("ov-breakdown", "figure"),
                  Input("ov-kpi", "value"), Input("ov-grain", "value"),
                  Input("ov-dimension", "value"), Input("ov-dates", "start_date"),
                  Input("ov-dates", "end_date"))  # fmt: skip
    def breakdown(kpi, grain, dimension, start, end):
        frame = data.frame(kpi, grain, dimension)
        if start and end and len(frame):
            frame = frame[
                (frame[K.PERIOD] >= pd.Timestamp(start)) & (frame[K.PERIOD] <= pd.Timestamp(end))
            ]
        fig = go.Figure()
        top = frame.groupby(K.MEMBER)[K.VALUE].sum().sort_values(ascending=False).head(8).index
        for m in top:
            g = frame[frame[K.MEMBER] == m]
            fig.add_trace(go.Scatter(x=g[K.PERIOD], y=g[K.VALUE], name=str(m), mode="lines"))
        fig.update_layout(height=360, margin={"l": 40, "r": 10, "t": 30, "b": 30},
                          title=f"{K.KPIS[kpi].label} by {dimension} ({grain})")  # fmt: skip
        return fig
