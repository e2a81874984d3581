"""What planners read: a terminal summary and a self-contained HTML report."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from src.features import columns as C
from src.policy.evaluate import KPI_COLUMNS

ACTION_COLUMNS = [
    C.LOCATION_ID,
    C.SKU,
    "abc_class",
    "xyz_class",
    "on_hand",
    "on_order",
    "order_up_to",
    "order_qty",
    "order_value",
    "days_of_cover",
    "expected_fill_rate",
    "reason",
]


def top_actions(s: pd.DataFrame, n: int) -> pd.DataFrame:
    """Orders ranked by value (the money decisions first)."""
    orders = s[s["order_qty"] > 0].sort_values("order_value", ascending=False)
    return orders[[c for c in ACTION_COLUMNS if c in orders]].head(n)


def headline(s: pd.DataFrame, transfers: pd.DataFrame) -> dict:
    return {
        "location x SKU rows": len(s),
        "orders suggested": int((s["order_qty"] > 0).sum()),
        "units to order": float(s["order_qty"].sum()),
        "order value": float(s["order_value"].sum()),
        "transfers": len(transfers),
        "units transferred": float(transfers["qty"].sum()) if len(transfers) else 0.0,
        "rows without a stock record": int((~s["inventory_known"]).sum()),
    }


def terminal_summary(
    s: pd.DataFrame, transfers: pd.DataFrame, sim: pd.DataFrame | None, n: int
) -> str:
    fmt = {"float_format": lambda v: f"{v:,.2f}"}
    lines = ["", "=== reorder plan ==="]
    lines += [f"{k:>28}: {v:,.0f}" for k, v in headline(s, transfers).items()]
    by_class = s.groupby("abc_class").agg(
        rows=(C.SKU, "size"),
        orders=("order_qty", lambda x: int((x > 0).sum())),
        order_value=("order_value", "sum"),
        service_level=("service_level", "mean"),
    )
    lines += ["", "by ABC class:", by_class.to_string(**fmt)]
    act = top_actions(s, n).drop(columns=["reason"], errors="ignore")
    lines += [
        "",
        f"top {len(act)} orders by value:",
        act.to_string(index=False, **fmt) if len(act) else "(none)",
    ]
    if len(transfers):
        lines += ["", "transfers:", transfers.head(n).to_string(index=False, **fmt)]
    if sim is not None:
        cols = [
            "policy",
            "fill_rate",
            "days_of_cover",
            "cycle_service_level",
            "stockout_days",
            "orders_placed",
        ]
        lines += [
            "",
            "policies replayed on history (lost sales):",
            sim[cols]
            .sort_values("days_of_cover")
            .to_string(index=False, float_format=lambda v: f"{v:.3f}"),
        ]
    return "\n".join(lines)


def _img(path: Path | None) -> str:
    if path is None or not Path(path).exists():
        return ""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="fill rate vs days of cover" src="data:image/png;base64,{data}" style="max-width:100%">'


def _table(df: pd.DataFrame) -> str:
    return df.to_html(
        index=False, float_format=lambda v: f"{v:,.2f}", border=0, classes="t", escape=True
    )


def html_report(
    s: pd.DataFrame,
    transfers: pd.DataFrame,
    sim: pd.DataFrame | None,
    chart: Path | None,
    pcfg: Mapping,
    forecast_path: Path,
) -> str:
    """One self-contained page (chart embedded), readable offline and attachable to a mail."""
    head = headline(s, transfers)
    as_of = pd.Timestamp(s["as_of"].iloc[0]).date() if "as_of" in s and len(s) else ""
    unknown = int((~s["inventory_known"]).sum())
    warning = (
        f"<p style='color:#a40'><b>{unknown} of {len(s)} rows have no stock record</b>: on hand "
        "was taken as 0, so their order quantity is the level to hold, not today's buy. Load an "
        "inventory snapshot for real suggestions.</p>"
        if unknown
        else ""
    )
    cards = "".join(
        f"<div class=c><b>{v:,.0f}</b><br>{html.escape(k)}</div>" for k, v in head.items()
    )
    sim_html = ""
    if sim is not None:
        cols = ["policy", "type", *KPI_COLUMNS]
        sim_html = (
            "<h2>Evidence: policies replayed on recent history</h2>"
            f"<p>Actual demand of the last {pcfg['simulation']['window_days']} days replayed day by "
            f"day, weekly re-forecasts ({html.escape(str(pcfg['simulation']['forecaster']))}) on data "
            "before each review only, lost sales. Up and to the left is better.</p>"
            f"{_img(chart)}{_table(sim[cols].sort_values('days_of_cover'))}"
        )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>retail-brain reorder plan</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}}
.c{{display:inline-block;border:1px solid #ccc;border-radius:6px;padding:.6em 1em;margin:.3em}}
table.t{{border-collapse:collapse;font-size:13px}} .t td,.t th{{padding:3px 8px;border-bottom:1px solid #eee}}
.t th{{background:#f4f4f4;text-align:left}}</style></head><body>
<h1>Reorder plan</h1>
<p>Stock as of {html.escape(str(as_of))}; forecast: <code>{html.escape(str(forecast_path))}</code>;
policy <b>{html.escape(str(pcfg["kind"]))}</b>, review every {pcfg["review_period"]} days,
service levels: <code>{html.escape(str(pcfg["service_level"]["mode"]))}</code>.</p>
{cards}{warning}
<h2>Top {int(pcfg["report_top_n"])} orders by value</h2>{_table(top_actions(s, int(pcfg["report_top_n"])))}
<h2>Transfers before buying</h2>{_table(transfers.head(int(pcfg["report_top_n"]))) if len(transfers) else "<p>none</p>"}
{sim_html}
<p style="color:#777">Full tables: suggestions.csv / .parquet, transfers.csv / .parquet beside this file.</p>
</body></html>"""
