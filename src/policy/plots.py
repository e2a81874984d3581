"""Figures for inventory policies: the fill-rate / stock trade-off and stock over time."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

_FAMILY = re.compile(r"^(?P<family>[^\[]+)(\[(?P<param>[^=]+)=(?P<value>[^\]]+)\])?$")


def family(name: str) -> tuple[str, str | None]:
    """``'rule[days=45]'`` -> ``('rule', '45')``; ``'normal'`` -> ``('normal', None)``."""
    m = _FAMILY.match(name)
    return (m["family"], m["value"]) if m else (name, None)


def tradeoff(
    table: pd.DataFrame,
    title: str = "",
    target: tuple[float, float] | None = None,
):
    """Fill rate against days of cover, one line per policy family (sweeps) or one point.

    ``table`` has ``policy, fill_rate, days_of_cover``; ``target = (max_days, min_fill)`` draws
    the target corner.
    """
    fig, ax = plt.subplots(figsize=(8, 5.5))
    t = table.assign(family=[family(p)[0] for p in table["policy"]])
    t = t.assign(label=[family(p)[1] for p in t["policy"]])
    for fam, g in t.groupby("family", sort=False):
        g = g.sort_values("days_of_cover")
        style = "-o" if len(g) > 1 else "s"
        ax.plot(g["days_of_cover"], 100 * g["fill_rate"], style, label=fam, ms=5)
        for _, row in g.iterrows():
            if row["label"] is not None:
                ax.annotate(
                    row["label"],
                    (row["days_of_cover"], 100 * row["fill_rate"]),
                    fontsize=7,
                    textcoords="offset points",
                    xytext=(3, -9),
                )
    if target:
        days, fill = target
        ax.axvline(days, color="grey", ls="--", lw=0.8)
        ax.axhline(100 * fill, color="grey", ls="--", lw=0.8)
        ax.fill_between([0, days], 100 * fill, 100, color="green", alpha=0.07, label="target")
    ax.set_xlabel("days of cover (average on-hand value / average daily sold value)")
    ax.set_ylabel("fill rate, % of units demanded")
    ax.set_xlim(left=0)
    ax.set_ylim(top=100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def stock_over_time(daily: dict[str, pd.DataFrame], dates: pd.DatetimeIndex, title: str = ""):
    """On-hand value per day for a few policies, with total demand underneath."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, height_ratios=[3, 1])
    for name, d in daily.items():
        top.plot(dates[: len(d)], d["on_hand_value"], label=name, lw=1.2)
    first = next(iter(daily.values()))
    bottom.bar(dates[: len(first)], first["demand_units"], color="grey", width=0.9)
    top.set_ylabel("on-hand value")
    bottom.set_ylabel("units demanded")
    top.legend(fontsize=8)
    top.grid(alpha=0.3)
    top.set_title(title)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
