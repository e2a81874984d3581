"""Customers: AIPL stages and flows, CLV tiers, top customers, trigger audiences, campaign
results with ROI and Qini."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import quote

import pandas as pd
import plotly.graph_objects as go
from dash import dash_table, dcc, html

from src.console.common import can
from src.console.data import ConsoleData
from src.features import columns as C
from src.features.aipl import AIPL_STAGES, NEW, transition_matrix
from src.monitor import kpis as K

log = logging.getLogger(__name__)


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
    export = can("export_audience")
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
