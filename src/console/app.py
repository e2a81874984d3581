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

import json
import logging
import os
import secrets
from collections.abc import Mapping
from urllib.parse import parse_qs, quote, urlencode

import dash
import flask
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, State, dash_table, dcc, html
from markupsafe import escape

from src.console.auth import authenticate, load_users
from src.console.data import KEY_METRICS, ConsoleData
from src.features import columns as C
from src.features.aipl import AIPL_STAGES, NEW, transition_matrix
from src.features.csv_export import to_csv
from src.monitor import kpis as K

log = logging.getLogger(__name__)
ENV_SECRET = "RETAIL_BRAIN_CONSOLE_SECRET"
PAGES = [
    ("/overview", "Overview"),
    ("/alerts", "Alerts"),
    ("/planning", "Planning"),
    ("/customers", "Customers"),
    ("/models", "Models"),
]
TILES = [
    "net_sales", "orders", "aov", "active_customers", "new_customers", "repeat_rate",
    "return_rate", "gross_margin", "inventory_value", "days_of_cover", "stockout_rate",
    "lost_sales", "forecast_wape", "forecast_coverage95", "rec_hit_rate",
]  # fmt: skip
TEXT_COLUMNS = {C.LOCATION_ID, C.SKU, C.CATEGORY, "abc_class", "xyz_class", "reason"}
MAX_ROWS = 500  # rows sent to the planning table; the CSV export has every row
DIMENSIONS = ["total", "channel", "location", "category", "segment"]
PLAN_COLUMNS = [
    C.LOCATION_ID, C.SKU, C.CATEGORY, "abc_class", "xyz_class", C.ON_HAND, C.ON_ORDER,
    "inventory_position", "safety_stock", "reorder_point", "order_qty", "order_value",
    "days_of_cover", "expected_fill_rate", "reason",
]  # fmt: skip
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
.nav{display:flex;gap:18px;align-items:center;background:#1d2330;padding:10px 20px}
.nav a{color:#cfd6e4;text-decoration:none;font-weight:500}.nav a.active{color:#fff;border-bottom:2px solid #4f8cff}
.nav .who{margin-left:auto;color:#9aa4b8;font-size:13px}.page{padding:18px 24px}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:12px}
.tile{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px #0001}
.tile .label{font-size:12px;color:#5b6478}.tile .value{font-size:22px;font-weight:600}
.up{color:#1a7f37}.down{color:#c62828}.flat{color:#5b6478}.controls{display:flex;gap:12px;flex-wrap:wrap;align-items:end;margin-bottom:14px}
.controls>div{min-width:180px}.card{background:#fff;border-radius:8px;padding:12px;margin-top:14px;box-shadow:0 1px 2px #0001}
.btn{background:#4f8cff;color:#fff;border:0;border-radius:6px;padding:7px 14px;cursor:pointer;text-decoration:none;display:inline-block}
.muted{color:#5b6478;font-size:13px}
"""
LOGIN_PAGE = """<!doctype html><html><head><title>retail-brain console · sign in</title>
<style>{style} form{{max-width:320px;margin:12vh auto;background:#fff;padding:24px;border-radius:8px}}
input{{width:100%;padding:8px;margin:6px 0 12px;box-sizing:border-box}}</style></head>
<body><form method="post" action="/login"><h2>retail-brain console</h2>{error}
<input type="hidden" name="next" value="{next}">
<label>User<input name="username" id="username" autocomplete="username"></label>
<label>Password<input name="password" id="password" type="password" autocomplete="current-password"></label>
<button class="btn" id="login" type="submit">Sign in</button></form></body></html>"""


def _user():
    return flask.g.get("user")


def _can(permission: str) -> bool:
    u = _user()
    return bool(u and u.can(permission))


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


def alerts_layout(data: ConsoleData) -> html.Div:
    ack = _can("acknowledge")
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


def planning_layout(data: ConsoleData, query: Mapping) -> html.Div:
    s = data.suggestions()
    if s is None:
        return html.Div("No reorder plan yet: run `make run` (or `make plan`).", className="card")
    locations = sorted(s[C.LOCATION_ID].astype(str).unique())
    top = s.sort_values("order_value", ascending=False)[C.SKU].astype(str).drop_duplicates()
    skus = top.head(300).tolist()
    export = _can("export_plan")
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


AIPL_COLORS = {"inactive": "#b0b7c3", "awareness": "#9ecae1", "interest": "#4f8cff",
               "purchase": "#f28e2b", "loyalty": "#2ca02c", "new": "#6b6b6b"}  # fmt: skip


def aipl_figures(aipl: Mapping | None) -> list:
    """Customers per AIPL stage by month and a Sankey of the latest month's flows."""
    if not aipl or aipl["stages"].empty:
        return [html.Div("No AIPL stages yet (run `make run`).", className="muted")]
    stages, flows = aipl["stages"], aipl["flows"]
    counts = stages.groupby(["period", "stage"], observed=True).size().unstack(fill_value=0)
    bars = go.Figure([go.Bar(x=counts.index, y=counts[st], name=st, marker_color=AIPL_COLORS[st])
                      for st in AIPL_STAGES if st in counts])  # fmt: skip
    bars.update_layout(barmode="stack", height=320, margin={"t": 40},
                       title="Customers per AIPL stage (awareness → interest → purchase → loyalty)")  # fmt: skip
    last = flows["period"].max()
    f = flows[flows["period"] == last]
    prev = pd.Timestamp(last) - pd.DateOffset(months=1)
    left = [f"{x} ({prev:%b %Y})" if x != "new" else "new" for x in [NEW, *AIPL_STAGES]]
    right = [f"{x} ({pd.Timestamp(last):%b %Y})" for x in AIPL_STAGES]
    index = {**{s: i for i, s in enumerate([NEW, *AIPL_STAGES])},
             **{f"to:{s}": len(left) + i for i, s in enumerate(AIPL_STAGES)}}  # fmt: skip
    sankey = go.Figure(go.Sankey(
        node={"label": left + right, "pad": 12,
              "color": [AIPL_COLORS[s] for s in [NEW, *AIPL_STAGES]]
              + [AIPL_COLORS[s] for s in AIPL_STAGES]},
        link={"source": [index[str(a)] for a in f["from_stage"]],
              "target": [index[f"to:{b}"] for b in f["to_stage"]],
              "value": f["customers"].tolist()},
    ))  # fmt: skip
    sankey.update_layout(height=360, margin={"t": 40},
                         title=f"Flows between stages into {pd.Timestamp(last):%B %Y}")  # fmt: skip
    m = (transition_matrix(flows) * 100).round(1).reset_index()
    return [
        dcc.Graph(figure=bars, id="cu-aipl"),
        dcc.Graph(figure=sankey, id="cu-sankey"),
        html.H4("Transition matrix, all months (% of the row's customers)"),
        dash_table.DataTable(
            id="cu-transitions",
            data=m.to_dict("records"),
            columns=[{"name": c, "id": c} for c in m.columns],
        ),  # fmt: skip
    ]


def trigger_audiences(data: ConsoleData, export: bool) -> list:
    aud = data.audiences()
    if aud is None or aud.empty:
        return [html.H4("Audiences"), html.Div("No audiences yet: run `make run` (or "
                                               "`make audiences`).", className="muted")]  # fmt: skip
    sizes = aud.groupby(["audience", "group"]).size().unstack(fill_value=0).reset_index()
    as_of = pd.Timestamp(aud["as_of"].max())
    links = ([html.A(f"{n}.csv", href=f"/export/audiences/{quote(str(n))}.csv", className="btn",
                     style={"marginRight": "8px"}, id=f"cu-trigger-{n}")
              for n in sizes["audience"]] if export else
             [html.Div("Downloading audiences needs the marketer or admin role.",
                       className="muted")])  # fmt: skip
    return [
        html.H4(
            f"Audiences of {as_of:%Y-%m-%d} (treated, and the random holdout kept for measurement)"
        ),  # fmt: skip
        dash_table.DataTable(
            id="cu-audiences",
            data=sizes.to_dict("records"),
            columns=[{"name": c, "id": c} for c in sizes.columns],
        ),  # fmt: skip
        html.Div(links, style={"marginTop": "10px"}),
    ]


CAMPAIGN_COLUMNS = {  # results column -> what the table calls it
    C.CAMPAIGN_ID: "campaign", C.CHANNEL: "channel", "method": "method",
    "n_treated": "treated", "holdout": "holdout", "revenue_per_customer": "revenue / customer",
    "revenue_lo": "low", "revenue_hi": "high", "revenue_p": "p", "conversion_uplift": "conv. uplift",
    "incremental_revenue": "incr. revenue", "cost": "cost", "roi": "ROI", "roi_lo": "ROI low",
    "roi_hi": "ROI high", "verdict": "verdict",
}  # fmt: skip


def campaign_section(data: ConsoleData) -> list:
    """Did the campaigns pay? Effects with 95 % intervals, ROI, and the uplift models' Qini."""
    res = data.campaigns()
    if res is None or res.empty:
        return [html.H4("Campaigns"), html.Div(
            "No campaign measured yet: map campaign files (data.campaigns) and run "
            "`make campaigns`; audience sends are measured once their window has closed.",
            className="muted")]  # fmt: skip
    res = res.sort_values(C.START, ascending=False)
    table = res[[c for c in CAMPAIGN_COLUMNS if c in res]].rename(columns=CAMPAIGN_COLUMNS)
    roi = go.Figure(go.Bar(
        x=res[C.CAMPAIGN_ID], y=res["roi"],
        error_y={"type": "data", "symmetric": False, "array": res["roi_hi"] - res["roi"],
                 "arrayminus": res["roi"] - res["roi_lo"]},
        marker_color=["#2e7d32" if lo > 1 else "#c62828" if hi < 1 else "#9e9e9e"
                      for lo, hi in zip(res["roi_lo"], res["roi_hi"], strict=True)],
    ))  # fmt: skip
    roi.add_hline(y=1, line_dash="dash", annotation_text="ROI = 1 (break-even)")
    roi.update_layout(height=320, margin={"t": 40},
                      title="ROI = incremental margin / cost, with 95 % intervals "
                            "(green: paid, red: did not, grey: not yet certain)")  # fmt: skip
    out = [
        html.H4("Campaigns: incremental effect vs holdout (or matched control), ROI"),
        dcc.Graph(figure=roi, id="cu-campaign-roi"),
        dash_table.DataTable(
            id="cu-campaigns", data=table.round(3).to_dict("records"),
            columns=[{"name": c, "id": c} for c in table.columns], page_size=10,
            style_cell={"whiteSpace": "normal", "height": "auto", "textAlign": "left"},
        ),
    ]  # fmt: skip
    curves = data.qini_curves()
    if curves is not None and not curves.empty:
        qini = go.Figure()
        for (cid, model), g in (
            curves.melt(
                id_vars=["share_targeted", C.CAMPAIGN_ID], var_name="model", value_name="gain"
            )
            .dropna()
            .groupby([C.CAMPAIGN_ID, "model"])
        ):
            qini.add_trace(go.Scatter(x=g["share_targeted"], y=g["gain"], name=f"{cid}: {model}",
                                      line={"dash": "dash"} if model == "Random" else {}))  # fmt: skip
        qini.update_layout(height=340, margin={"t": 40}, xaxis_title="share targeted, best first",
                           yaxis_title="incremental conversions",
                           title="Whom to target next: Qini curves of the uplift model vs the "
                                 "response model and random (held-out members)")  # fmt: skip
        out.append(dcc.Graph(figure=qini, id="cu-qini"))
    power = data.power()
    if power is not None and not power.empty:
        cols = [c for c in (C.CAMPAIGN_ID, "what", "baseline_conversion", "conversion_lift_abs",
                            "treated_for_conversion", "holdout_for_conversion",
                            "revenue_per_customer_abs", "treated_for_revenue",
                            "holdout_for_revenue") if c in power]  # fmt: skip
        out += [html.H4("Power: the smallest detectable effect now, and the sample the next "
                        "test needs (80 % power, 5 % two-sided)"),
                dash_table.DataTable(id="cu-power", data=power[cols].round(4).to_dict("records"),
                                     columns=[{"name": c, "id": c} for c in cols],
                                     page_size=8)]  # fmt: skip
    return out


def customers_layout(data: ConsoleData) -> html.Div:
    rfm = data.customers()
    if rfm is None:
        return html.Div("No customer features yet: run `make run`.", className="card")
    sizes = rfm[C.LIFECYCLE].value_counts()
    bar = go.Figure(go.Bar(x=sizes.index.astype(str), y=sizes.values))
    bar.update_layout(height=300, title="Customers by RFM recency stage", margin={"t": 40})
    flows = data.frame("active_customers", "week", "segment")
    area = go.Figure()
    for member, g in flows.groupby(K.MEMBER):
        area.add_trace(go.Scatter(x=g[K.PERIOD], y=g[K.VALUE], name=member, stackgroup="one"))
    area.update_layout(height=320, title="Active customers per week by current stage",
                       margin={"t": 40})  # fmt: skip
    new = data.kpi("new_customers", "week", "total", K.ALL)
    ret = data.kpi("returning_customers", "week", "total", K.ALL)
    flow = go.Figure([go.Bar(x=new.index, y=new.values, name="new"),
                      go.Bar(x=ret.index, y=ret.values, name="returning")])  # fmt: skip
    flow.update_layout(barmode="stack", height=300, title="New and returning customers per week",
                       margin={"t": 40})  # fmt: skip
    values = data.clv()
    cols = [C.CUSTOMER_ID, C.LIFECYCLE, C.MONETARY, C.FREQUENCY, C.RECENCY_DAYS, C.RFM_SCORE]
    clv_figs = []
    if values is not None:
        rfm = rfm.merge(values[[C.CUSTOMER_ID, "p_alive", "value_365d", "clv_tier"]],
                        on=C.CUSTOMER_ID, how="left")  # fmt: skip
        cols += ["p_alive", "value_365d", "clv_tier"]
        tiers = values.groupby("clv_tier").agg(customers=(C.CUSTOMER_ID, "size"),
                                                value=("value_365d", "sum"))  # fmt: skip
        tier_fig = go.Figure([
            go.Bar(x=[f"tier {t}" for t in tiers.index], y=tiers["customers"], name="customers"),
            go.Bar(x=[f"tier {t}" for t in tiers.index], y=tiers["value"], name="12-month value",
                   yaxis="y2"),
        ])  # fmt: skip
        tier_fig.update_layout(
            barmode="group", height=300, margin={"t": 40},
            title="CLV tiers (BG/NBD + Gamma-Gamma): customers and predicted 12-month value",
            yaxis2={"overlaying": "y", "side": "right"},
        )  # fmt: skip
        clv_figs = [html.Div([dcc.Graph(figure=tier_fig, id="cu-clv")], className="card")]
    sort_by = "value_365d" if values is not None else C.MONETARY
    top = rfm.sort_values(sort_by, ascending=False).head(20)
    export = _can("export_audience")
    stages = sorted(rfm[C.LIFECYCLE].astype(str).unique())
    return html.Div(
        [
            html.Div(aipl_figures(data.aipl()), className="card"),
            *clv_figs,
            html.Div([dcc.Graph(figure=bar, id="cu-sizes")], className="card"),
            html.Div(
                [dcc.Graph(figure=area, id="cu-flows"), dcc.Graph(figure=flow)], className="card"
            ),  # fmt: skip
            html.Div(
                [
                    html.H4(
                        "Top customers by predicted 12-month value (CLV)"
                        if values is not None
                        else "Top customers by value"
                    ),
                    dash_table.DataTable(
                        id="cu-top",
                        data=top[cols].round(2).to_dict("records"),
                        columns=[{"name": c, "id": c} for c in cols],
                        page_size=20,
                    ),
                ],
                className="card",
            ),  # fmt: skip
            html.Div(trigger_audiences(data, export), className="card"),
            html.Div(campaign_section(data), className="card"),
            html.Div(
                [
                    html.H4("Customers by RFM stage, with their top recommendations"),
                    html.Div(
                        [
                            html.A(
                                f"{st}.csv",
                                href=f"/export/audience/{quote(st)}.csv",
                                className="btn",
                                style={"marginRight": "8px"},
                                id=f"cu-audience-{st}",
                            )
                            for st in stages
                        ]
                        if export
                        else html.Div(
                            "Downloading audiences needs the marketer or admin role.",
                            className="muted",
                        )
                    ),
                ],
                className="card",
            ),  # fmt: skip
        ]
    )


def models_layout(data: ConsoleData) -> html.Div:
    try:
        rows = data.models()
    except Exception as err:  # the registry may be unreachable; say so instead of failing
        log.warning("models page: %s", err)
        return html.Div(f"MLflow registry unavailable: {type(err).__name__}", className="card")
    ui = data.config["console"]["mlflow_ui_url"].rstrip("/")
    cols = ["registered_model", "alias", "version", "model", *KEY_METRICS]
    present = [c for c in cols if any(c in r for r in rows)] or cols[:4]
    table = [
        {**{c: (round(r[c], 4) if isinstance(r.get(c), float) else r.get(c)) for c in present},
         "mlflow": f"[open]({ui}/#/experiments/{r['experiment_id']}/runs/{r['run_id']})"}
        for r in rows
    ]  # fmt: skip
    return html.Div(
        [
            html.Div(
                [
                    "Champions and challengers of every registered model. ",
                    html.A("MLflow UI", href=ui, target="_blank"),
                    " (start it with `make ui`).",
                ],
                className="muted",
            ),  # fmt: skip
            dash_table.DataTable(
                id="mo-table",
                data=table,
                columns=[{"name": c, "id": c} for c in present]
                + [{"name": "mlflow", "id": "mlflow", "presentation": "markdown"}],
                style_cell={"textAlign": "left", "fontSize": "13px"},
            ),  # fmt: skip
        ],
        className="card",
    )


# --- the app ----------------------------------------------------------------------------------
def create_app(config: Mapping, users: Mapping | None = None) -> dash.Dash:
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
    open_paths = {"/login", "/healthz"}

    @server.before_request
    def guard():
        path = flask.request.path
        name = flask.session.get("user")
        if name in users:
            flask.g.user = users[name]
            return None
        if path in open_paths:
            return None
        if path.startswith("/_dash") or path.startswith("/export"):
            return flask.Response("login required", 401)
        return flask.redirect("/login?next=" + quote(flask.request.full_path))

    @server.errorhandler(Exception)
    def bad_request(err):
        """A callback request the pages would never send (wrong ids, types, missing fields)
        answers 400, not 500; the traceback goes to the log so a real bug stays visible."""
        from werkzeug.exceptions import HTTPException

        if isinstance(err, HTTPException):
            return err
        log.warning("console: %s %s failed", flask.request.method, flask.request.path,
                    exc_info=err)  # fmt: skip
        return flask.Response("bad request", 400)

    @server.route("/healthz")
    def healthz():
        return {"status": "ok"}

    @server.route("/login", methods=["GET", "POST"])
    def login():
        nxt = flask.request.values.get("next", "/overview")
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/overview"  # no open redirects
        error = ""
        if flask.request.method == "POST":
            user = authenticate(users, flask.request.form.get("username", ""),
                                flask.request.form.get("password", ""))  # fmt: skip
            if user:
                flask.session.clear()
                flask.session["user"] = user.name
                log.info("console login: %s (%s)", user.name, user.role)
                return flask.redirect(nxt)
            log.info("console login refused")
            error = '<p id="login-error" style="color:#c62828">Wrong user or password.</p>'
        page = LOGIN_PAGE.format(style=STYLE, error=error, next=escape(nxt))
        return page, (401 if error else 200)

    @server.route("/logout")
    def logout():
        flask.session.clear()
        return flask.redirect("/login")

    @server.route("/export/plan.csv")
    def export_plan():
        if not _can("export_plan"):
            return flask.Response("forbidden: exporting plans needs the planner role", 403)
        q = flask.request.args
        plan = filtered_plan(data, q.getlist("location"), q.getlist("abc"), q.get("orders") == "1")
        log.info("plan export by %s: %d rows", _user().name, len(plan))
        return _csv(plan, "reorder_plan.csv")

    @server.route("/export/audiences/<name>.csv")
    def export_trigger_audience(name: str):
        if not _can("export_audience"):
            return flask.Response("forbidden: exporting audiences needs the marketer role", 403)
        aud = data.audiences()
        if aud is None or name not in set(aud["audience"].astype(str)):
            return flask.Response(f"no audience {escape(name)!s}", 404)
        rows = aud[aud["audience"].astype(str) == name]
        log.info("audience export %s by %s: %d customers", name, _user().name, len(rows))
        return _csv(rows, f"{name}.csv")

    @server.route("/export/audience/<stage>.csv")
    def export_audience(stage: str):
        if not _can("export_audience"):
            return flask.Response("forbidden: exporting audiences needs the marketer role", 403)
        rfm = data.customers()
        if rfm is None or stage not in set(rfm[C.LIFECYCLE].astype(str)):
            return flask.Response(f"no audience {escape(stage)!s}", 404)
        aud = rfm[rfm[C.LIFECYCLE].astype(str) == stage][
            [C.CUSTOMER_ID, C.LIFECYCLE, C.RECENCY_DAYS, C.FREQUENCY, C.MONETARY]
        ]
        values = data.clv()
        if values is not None:
            aud = aud.merge(values[[C.CUSTOMER_ID, "p_alive", "value_365d", "clv_tier"]],
                            on=C.CUSTOMER_ID, how="left")  # fmt: skip
        recs = data.recommendations()
        if recs is not None:
            top = recs[recs["rank"] <= 5].astype({C.CUSTOMER_ID: str, C.SKU: str})
            items = top.groupby(C.CUSTOMER_ID)[C.SKU].agg(" ".join).rename("recommended_skus")
            aud = aud.merge(items, left_on=C.CUSTOMER_ID, right_index=True, how="left")
        log.info("audience export %s by %s: %d customers", stage, _user().name, len(aud))
        return _csv(aud, f"audience_{stage}.csv")

    nav = html.Div(id="nav", className="nav")
    app.layout = html.Div([dcc.Location(id="url"), nav, html.Div(id="page", className="page")])

    @app.callback(Output("nav", "children"), Output("page", "children"),
                  Input("url", "pathname"), State("url", "search"))  # fmt: skip
    def route(pathname, search):
        query = {k: v[0] for k, v in parse_qs((search or "").lstrip("?")).items()}
        path = pathname if pathname in dict(PAGES) else "/overview"
        n_open = data.store.open_count()
        label_of = {**dict(PAGES), "/alerts": f"Alerts ({n_open} open)" if n_open else "Alerts"}
        links = [html.A(label_of[p], href=p, className="active" if p == path else "",
                        id=f"nav-{p[1:]}") for p, _ in PAGES]  # fmt: skip
        u = _user()
        links.append(html.Span([f"{u.name} · {u.role} · ", html.A("sign out", href="/logout")],
                               className="who"))  # fmt: skip
        if path == "/overview":
            page = overview_layout(data, query)
        elif path == "/alerts":
            page = alerts_layout(data)
        elif path == "/planning":
            page = planning_layout(data, query)
        elif path == "/customers":
            page = customers_layout(data)
        else:
            page = models_layout(data)
        return links, page

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

    @app.callback(Output("al-table", "data"), Output("al-result", "children"),
                  Output("al-table", "selected_rows"),
                  Input("al-severity", "value"), Input("al-area", "value"),
                  Input("al-status", "value"), Input("al-ack", "n_clicks"),
                  State("al-table", "data"), State("al-table", "selected_rows"))  # fmt: skip
    def alert_rows(severity, area, status, n_ack, rows, selected):
        note = ""
        if dash.ctx.triggered_id == "al-ack" and selected:
            if not _can("acknowledge"):
                note = "Acknowledging needs a planner, marketer or admin role."
            else:
                ids = [rows[i]["id"] for i in selected if i < len(rows)]
                done = [i for i in ids if data.store.acknowledge(i, _user().name)]
                note = f"Acknowledged {len(done)} alert(s) as {_user().name}."
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

    return app


def _csv(frame: pd.DataFrame, name: str) -> flask.Response:
    return flask.Response(
        to_csv(frame, index=False), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )  # fmt: skip
