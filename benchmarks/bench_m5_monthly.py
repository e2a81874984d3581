"""`make bench-forecast DATASET=m5_monthly`: 3-month forecasts of all 30,490 M5 series, scored
over the twelve M5 aggregation levels (issue 13).

Protocol: ``../shared/data/m5_sales_monthly_derived.parquet`` (monthly sums of every M5 series;
the partial first and last months are dropped, so 2011-02..2016-03). Train on 2011-02..2015-12,
forecast 2016-01..2016-03 (h = 3). WRMSSE over the twelve levels (total, state, store, category,
department, state x category, state x department, store x category, store x department, item,
item x state, item x store): RMSSE scale = mean squared one-step naive error of the training
months from each series' first non-zero month; weights within a level = dollar sales over the
last 3 training months at each item x store's mean weekly ``sell_price`` of those months; the
levels weigh equally.

Peers in the same run: each series' mean of its last 12 months; statsforecast Naive,
SeasonalNaive(12), ADIDA, CrostonOptimized at the bottom level summed up; AutoETS(12) fitted at
every level once and reconciled by hierarchicalforecast BottomUp (= AutoETS bottom-up) and
MinTraceSparse(wls_struct) (Nixtla's own hierarchical pipeline).

Ours: the direct LightGBM (:class:`~src.forecast.lgbm.DirectLightGBMForecaster`) at the bottom
level summed up, and the same model as the base of :class:`~src.forecast.hierarchy.Hierarchical`
over the twelve levels (reconciler chosen on its own last 3 fit months). The champion is the
lower mean WRMSSE over two validation windows (2015-10..12 from data to 2015-09, 2015-01..03
from data to 2014-12) — never the test window. Writes
``benchmarks/out/forecast_m5_monthly.parquet`` (``unique_id`` ITEM_STORE, ``ds``, ``y_hat``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from benchmarks.common import OUT, SHARED, timed, write_section
from src.features import columns as C
from src.forecast.hierarchy import Hierarchical, Hierarchy
from src.forecast.lgbm import DirectLightGBMForecaster

log = logging.getLogger("bench_m5_monthly")
H = 3
FIRST, TRAIN_END, TEST_END = "2011-02-01", "2015-12-01", "2016-03-01"
VALIDATION_ENDS = ("2015-09-01", "2014-12-01")  # origins of the two validation windows
HIER_COLS = ["item_id", "dept_id", "cat_id", "store_id", "state_id"]
M5_LEVELS: list[list[str]] = [
    [],
    ["state_id"],
    ["store_id"],
    ["cat_id"],
    ["dept_id"],
    ["state_id", "cat_id"],
    ["state_id", "dept_id"],
    ["store_id", "cat_id"],
    ["store_id", "dept_id"],
    ["item_id"],
    ["item_id", "state_id"],
]  # + the bottom, item x store
LEVEL_NAMES = [
    "total",
    "state",
    "store",
    "category",
    "department",
    "state x category",
    "state x department",
    "store x category",
    "store x department",
    "item",
    "item x state",
    "item x store",
]


# --- data and the metric ----------------------------------------------------------------------


def load() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(panel, static, monthly prices)``: panel ``unique_id, ds, y, price, month`` 2011-02..2016-03."""
    d = pd.read_parquet(SHARED / "m5_sales_monthly_derived.parquet")
    d[C.UNIQUE_ID] = d["item_id"] + "_" + d["store_id"]
    d[C.DS] = d["date"].astype("datetime64[ns]")
    d = d[(d[C.DS] >= FIRST) & (d[C.DS] <= TEST_END)]
    static = d.drop_duplicates(C.UNIQUE_ID)[[C.UNIQUE_ID, *HIER_COLS]].reset_index(drop=True)
    static[C.CATEGORY] = static["dept_id"]
    prices = pd.read_parquet(SHARED / "m5_sell_prices.parquet")
    cal = pd.read_parquet(SHARED / "m5_calendar.parquet")
    week_start = pd.to_datetime(cal["date"]).groupby(cal["wm_yr_wk"]).min()
    prices[C.DS] = prices["wm_yr_wk"].map(week_start).dt.to_period("M").dt.to_timestamp()
    prices[C.UNIQUE_ID] = prices["item_id"] + "_" + prices["store_id"]
    monthly_price = prices.groupby([C.UNIQUE_ID, C.DS])["sell_price"].mean().rename(C.PRICE)
    panel = d[[C.UNIQUE_ID, C.DS]].assign(**{C.Y: d["sales"].astype(float)})
    panel = panel.merge(monthly_price.reset_index(), on=[C.UNIQUE_ID, C.DS], how="left")
    panel = panel.sort_values([C.UNIQUE_ID, C.DS]).reset_index(drop=True)
    # not on sale yet: the first known price; never on sale: stays missing
    panel[C.PRICE] = panel.groupby(C.UNIQUE_ID)[C.PRICE].transform(lambda s: s.ffill().bfill())
    panel["month"] = panel[C.DS].dt.month
    return panel, static, monthly_price


def wide(panel: pd.DataFrame, ids: np.ndarray, column: str = C.Y) -> pd.DataFrame:
    return panel.pivot(index=C.UNIQUE_ID, columns=C.DS, values=column).reindex(ids)


def wrmsse12(
    train: pd.DataFrame,
    actual: pd.DataFrame,
    forecast: pd.DataFrame,
    static: pd.DataFrame,
    prices: pd.Series,
) -> tuple[float, list[float]]:
    """The twelve-level WRMSSE; ``train``/``actual``/``forecast`` are bottom-level wide frames
    (rows = the series in ``static`` order, columns = months)."""
    st = static.set_index(C.UNIQUE_ID).loc[train.index]
    last3 = train.columns[-3:]
    price = (
        prices[prices.index.get_level_values(C.DS).isin(last3)]
        .groupby(level=C.UNIQUE_ID)
        .mean()
        .reindex(train.index)
        .fillna(0.0)
    )
    dollars = train[last3].sum(axis=1) * price
    scores = []
    for lv in [*M5_LEVELS, ["item_id", "store_id"]]:
        key = [st[c] for c in lv] if lv else [pd.Series("total", index=st.index)]
        a, te, f = (x.groupby(key).sum().to_numpy() for x in (train, actual, forecast))
        w = dollars.groupby(key).sum().to_numpy()
        first = (a > 0).argmax(axis=1)
        scale = np.full(len(a), np.nan)
        for i in range(len(a)):
            if a.shape[1] - first[i] > 1:
                scale[i] = np.mean(np.diff(a[i, first[i] :]) ** 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.sqrt(((te - f) ** 2).mean(axis=1) / scale)
        ok = np.isfinite(r)  # a series without a naive error has no scale (and no sales)
        scores.append(float(np.sum(w[ok] * r[ok]) / w.sum()))
    return float(np.mean(scores)), scores


# --- models -----------------------------------------------------------------------------------


def direct_lgbm() -> DirectLightGBMForecaster:
    return DirectLightGBMForecaster(
        horizon=H,
        blocks=H,
        lags=12,
        windows=(3, 12, 24),
        scale_window=6,
        season_length=12,
        origins=30,
        origin_step=1,
        static_features=("category", "cat_id", "store_id", "state_id", "hierarchy_level"),
        dispersion_holdout=False,  # only the point forecast is scored here
        num_boost_round=400,
        learning_rate=0.05,
        num_leaves=63,
        min_data_in_leaf=200,
        num_threads=os.cpu_count() or 1,
        freq="MS",
    )


def hierarchical_lgbm() -> Hierarchical:
    return Hierarchical(
        base={"lightgbm_direct": direct_lgbm},
        levels=M5_LEVELS,
        methods=("bottom_up", "min_trace_ols", "min_trace_wls_struct"),
        intervals=("base",),  # only the means are scored here
        validation=H,
        freq="MS",
    )


OURS: dict[str, Callable] = {
    "lightgbm_direct (bottom-up)": direct_lgbm,
    "hierarchical lightgbm_direct (reconciled)": hierarchical_lgbm,
}


def ours_forecast(
    make: Callable, panel: pd.DataFrame, static: pd.DataFrame, future: pd.DataFrame
) -> pd.DataFrame:
    """Fit, then forecast with the known covariates of the window (calendar month; M5 prices
    are published ahead, as in the M5 competition)."""
    model = make().fit(panel, static)
    fc = model.predict(H, future)
    return fc[[C.UNIQUE_ID, C.DS, "y_hat"]]


# --- peers ------------------------------------------------------------------------------------


def statsforecast_bottom(train: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, float, float]]:
    from statsforecast import StatsForecast
    from statsforecast.models import ADIDA, CrostonOptimized, Naive, SeasonalNaive

    df = train[[C.UNIQUE_ID, C.DS, C.Y]]
    out = {}
    for model in (Naive(), SeasonalNaive(12), ADIDA(), CrostonOptimized()):
        name = repr(model)
        sf = StatsForecast(models=[model], freq="MS", n_jobs=-1)
        fc, s, mem = timed(lambda sf=sf: sf.forecast(df=df, h=H))
        out[f"statsforecast {name} (bottom-up)"] = (
            fc.rename(columns={name: "y_hat"})[[C.UNIQUE_ID, C.DS, "y_hat"]],
            s,
            mem,
        )
        log.info("peer %s: %.1f s", name, s)
    return out


def autoets_hierarchy(
    train: pd.DataFrame, static: pd.DataFrame
) -> dict[str, tuple[pd.DataFrame, float, float]]:
    from hierarchicalforecast.core import HierarchicalReconciliation
    from hierarchicalforecast.methods import BottomUpSparse, MinTraceSparse
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    h = Hierarchy(static, M5_LEVELS)
    every = h.aggregate(train[[C.UNIQUE_ID, C.DS, C.Y]])
    sf = StatsForecast(models=[AutoETS(season_length=12)], freq="MS", n_jobs=-1)
    base, s_fit, mem = timed(lambda: sf.forecast(df=every, h=H))
    log.info("peer AutoETS at every level (%d series): %.1f s", len(h.ids), s_fit)
    out = {}
    for name, rec in (
        ("BottomUp", BottomUpSparse()),  # the dense BottomUp builds a 42,840 x 30,490 matrix
        ("MinTraceSparse(wls_struct)", MinTraceSparse(method="wls_struct")),
    ):
        t = time.perf_counter()
        r = HierarchicalReconciliation([rec]).reconcile(
            Y_hat_df=base, tags=h.tags, S_df=h.smatrix()
        )
        s = s_fit + time.perf_counter() - t
        col = next(c for c in r.columns if c.startswith("AutoETS/"))
        bottom = r[r[C.UNIQUE_ID].isin(set(h.bottom))]
        label = (
            "statsforecast AutoETS(12) (bottom-up)"
            if name == "BottomUp"
            else f"statsforecast AutoETS(12) every level + {name}"
        )
        out[label] = (
            bottom.rename(columns={col: "y_hat"})[[C.UNIQUE_ID, C.DS, "y_hat"]],
            s,
            mem,
        )
    return out


def mean_last_12(train: pd.DataFrame) -> pd.DataFrame:
    last = train[train[C.DS] > train[C.DS].max() - pd.DateOffset(months=12)]
    m = last.groupby(C.UNIQUE_ID)[C.Y].mean()
    dates = pd.date_range(train[C.DS].max(), periods=H + 1, freq="MS")[1:]
    return pd.DataFrame(
        {
            C.UNIQUE_ID: np.repeat(m.index.to_numpy(), H),
            C.DS: np.tile(dates, len(m)),
            "y_hat": np.repeat(m.to_numpy(), H),
        }
    )


# --- the run ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    import argparse

    parser = argparse.ArgumentParser(description="M5 monthly, twelve levels")
    parser.add_argument("--skip-peers", action="store_true", help="ours only (development)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    t_start = time.perf_counter()
    panel, static, prices = load()
    ids = static[C.UNIQUE_ID].to_numpy()
    train = panel[panel[C.DS] <= TRAIN_END].reset_index(drop=True)
    test = panel[panel[C.DS] > TRAIN_END].reset_index(drop=True)
    log.info(
        "m5_monthly: %d series, train %s..%s, test %s..%s",
        len(ids),
        FIRST,
        TRAIN_END,
        test[C.DS].min().date(),
        TEST_END,
    )

    def score(fc: pd.DataFrame, hist: pd.DataFrame, actual: pd.DataFrame):
        f = wide(fc, ids, "y_hat").reindex(columns=sorted(actual[C.DS].unique())).fillna(0.0)
        return wrmsse12(wide(hist, ids), wide(actual, ids), f, static, prices)

    # 1. the champion, on two validation windows inside the training data
    validation: dict[str, list[float]] = {}
    for end in VALIDATION_ENDS:
        hist = train[train[C.DS] <= end]
        window = train[
            (train[C.DS] > end) & (train[C.DS] <= pd.Timestamp(end) + pd.DateOffset(months=H))
        ]
        for name, make in OURS.items():
            fc = ours_forecast(make, hist, static, window.drop(columns=[C.Y]))
            v, _ = score(fc, hist, window)
            validation.setdefault(name, []).append(v)
            log.info("validation to %s, %s: wrmsse %.4f", end, name, v)
        v, _ = score(mean_last_12(hist), hist, window)
        validation.setdefault("peer mean of last 12 months", []).append(v)
    champion = min(OURS, key=lambda n: np.mean(validation[n]))
    log.info("champion by validation: %s", champion)

    # 2. fit on all training months, forecast the test window
    results: dict[str, tuple[pd.DataFrame, float, float]] = {}
    chosen = {}
    for name, make in OURS.items():
        holder = {}

        def run(make=make, holder=holder):
            m = make().fit(train, static)
            holder["m"] = m
            return m.predict(H, test.drop(columns=[C.Y]))[[C.UNIQUE_ID, C.DS, "y_hat"]]

        results[name] = timed(run)
        m = holder["m"]
        if isinstance(m, Hierarchical):
            chosen[name] = {"method": m.method_, "validation": m.scores_}
        log.info("ours %s: %.1f s", name, results[name][1])
    results["peer mean of last 12 months"] = timed(lambda: mean_last_12(train))
    if not args.skip_peers:
        results |= statsforecast_bottom(train)
        results |= autoets_hierarchy(train, static)

    rows = []
    for name, (fc, seconds, mem) in results.items():
        total, per_level = score(fc, train, test)
        rows.append(
            {
                "model": name,
                "ours": name in OURS,
                "validation_wrmsse": float(np.mean(validation[name]))
                if name in validation
                else None,
                "wrmsse": total,
                **{f"L{i + 1}": v for i, v in enumerate(per_level)},
                "fit_predict_s": seconds,
                "peak_rss_gb": mem,
            }
        )
    table = pd.DataFrame(rows)
    peers = table[~table["ours"]]
    best = peers.loc[peers["wrmsse"].idxmin()]
    champ = table.set_index("model").loc[champion]
    summary = {
        "dataset": "m5_monthly",
        "series": len(ids),
        "champion": champion,
        "champion_wrmsse": float(champ["wrmsse"]),
        "best_peer_wrmsse": float(best["wrmsse"]),
        "best_peer_model": best["model"],
        "wrmsse_ratio": float(champ["wrmsse"] / best["wrmsse"]),
        "wrmsse_target_met": bool(champ["wrmsse"] <= 0.90 * best["wrmsse"]),
        "goal_1_185_met": bool(champ["wrmsse"] <= 1.185),
        "champion_fit_predict_s": float(champ["fit_predict_s"]),
        "time_target_met": bool(champ["fit_predict_s"] <= 20 * 60),
        "reconciliation": chosen,
        "validation_windows": list(VALIDATION_ENDS),
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "peers_run": not args.skip_peers,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    out = results[champion][0][[C.UNIQUE_ID, C.DS, "y_hat"]]
    out.to_parquet(OUT / "forecast_m5_monthly.parquet", index=False)
    summary["total_s"] = time.perf_counter() - t_start
    (OUT / "forecast_m5_monthly_metrics.json").write_text(
        json.dumps({"summary": summary, "table": table.to_dict("records")}, indent=2, default=float)
    )
    text = render(table, summary)
    if not args.skip_peers:
        write_section(
            "bench-forecast-m5_monthly", text, "### `make bench-forecast DATASET=m5_monthly`"
        )
    print(text)
    return summary


def render(table: pd.DataFrame, s: dict) -> str:
    t = table.sort_values("wrmsse")
    lines = [
        f"Measured {s['date']} on {s['cpus']} CPUs; {s['series']:,} series (all M5 item x store), "
        f"train 2011-02..2015-12, test 2016-01..2016-03; whole benchmark {s['total_s'] / 60:.1f} min. "
        "Champion chosen on the mean WRMSSE of two validation windows (2015-10..12 and "
        "2015-01..03, each forecast from the months before it), never on the test window. "
        "L1..L12 = the levels' RMSSE sums (total, state, store, category, department, state x "
        "category, state x department, store x category, store x department, item, item x state, "
        "item x store). Time: fit + predict of the final model; AutoETS rows include its one fit "
        "at every level (42,840 series).",
        "",
        "| model | ours | validation WRMSSE | WRMSSE | "
        + " | ".join(f"L{i}" for i in range(1, 13))
        + " | fit+predict s | peak RSS GB |",
        "| --- | :-: | ---: | ---: | " + " | ".join("---:" for _ in range(12)) + " | ---: | ---: |",
    ]
    for _, r in t.iterrows():
        champ = " **(champion)**" if r["model"] == s["champion"] else ""
        val = f"{r['validation_wrmsse']:.4f}" if pd.notna(r["validation_wrmsse"]) else ""
        levels = " | ".join(f"{r[f'L{i}']:.3f}" for i in range(1, 13))
        lines.append(
            f"| {r['model']}{champ} | {'yes' if r['ours'] else ''} | {val} | {r['wrmsse']:.4f} | "
            f"{levels} | {r['fit_predict_s']:.1f} | {r['peak_rss_gb']:.2f} |"
        )
    ok = lambda b: "met" if b else "**MISSED**"  # noqa: E731
    lines += [
        "",
        f"- WRMSSE: champion {s['champion']} {s['champion_wrmsse']:.4f} vs best peer "
        f"{s['best_peer_model']} {s['best_peer_wrmsse']:.4f} = ratio {s['wrmsse_ratio']:.3f} "
        f"(target ≤ 0.90): {ok(s['wrmsse_target_met'])}; goal ≤ 1.185: {ok(s['goal_1_185_met'])}",
        f"- champion fit + predict {s['champion_fit_predict_s'] / 60:.1f} min (target ≤ 20 min on "
        f"2 cores): {ok(s['time_target_met'])}",
    ]
    for name, c in s["reconciliation"].items():
        lines.append(f"- {name}: reconciler chosen on its last 3 fit months: `{c['method']}`")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
