"""`make bench-forecast DATASET=online_retail|m5_subset`: our forecasters vs statsforecast/mlforecast.

Protocols (issue 3):

* **online_retail** — both UCI files joined from the raw files (2009-12-01..2010-11-30 from
  Online Retail II, the rest from Online Retail); merchandise sale lines only (no ``C`` invoices,
  quantity > 0, price > 0, StockCode matching ``^\\d{5}[A-Za-z]{0,2}$``); y = units per StockCode
  per calendar day, zero-filled over the whole calendar; test 2011-11-12..2011-12-09 (28 days),
  training everything before; series = the 1,000 StockCodes with the most revenue in the 365 days
  up to 2011-11-11.
* **m5_subset** — the 149 HOBBIES_2 / CA_3 series from ``../shared/data``; validation: train on
  d_1..d_1913, score d_1914..d_1941; then refit on d_1..d_1941 and forecast d_1942..d_1969.

Our **champion** is chosen without looking at the test window: every model of ours is
backtested on the last 28 days of the training data, the best validation WRMSSE wins. All models
and peers are then fitted on the full training data and scored on the test window with the same
code (``src.forecast.metrics.evaluate``; weights = revenue over the last 28 training days).
Peers: each series' empirical quantiles of its last 56 days, statsforecast SeasonalNaive(7), AutoETS(7), CrostonOptimized, TSB(0.1, 0.1), ADIDA, IMAPA,
with conformal intervals (2 windows of 28) turned into the nine M5 quantiles; mlforecast with a
default LGBMRegressor (lags 7/14/28, day-of-week and month), intervals likewise.
Writes ``benchmarks/out/forecast_<dataset>.parquet`` (the champion's forecast), ``…_metrics.json``
and the table between the markers of ``docs/BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
import warnings

import numpy as np
import pandas as pd

from benchmarks.common import DAILY, OUT, H, our_models, timed, write_section
from src.features import columns as C
from src.forecast.backtest import BacktestSpec, backtest, known_future
from src.forecast.baselines import EmpiricalQuantiles
from src.forecast.metrics import M5_QUANTILES, Y_HAT, evaluate, quantile_column
from src.forecast.task import choice_tags

LEVELS = (1, 5, 33, 50)  # central interval levels -> quantile pairs (0.495/0.505 unused)
LEVEL_OF = {0.005: 99, 0.025: 95, 0.165: 67, 0.25: 50}
log = logging.getLogger("bench_forecast")


# --- measuring --------------------------------------------------------------------------------


# --- peers ------------------------------------------------------------------------------------


def interval_quantiles(df: pd.DataFrame, model: str, levels=(99, 95, 67, 50)) -> pd.DataFrame:
    out = pd.DataFrame(
        {C.UNIQUE_ID: df[C.UNIQUE_ID].astype(str), C.DS: df[C.DS], Y_HAT: df[model].clip(lower=0)}
    )
    for q in M5_QUANTILES:
        if q == 0.5:
            out[quantile_column(q)] = out[Y_HAT]
            continue
        lv = LEVEL_OF[min(q, 1 - q)] if q < 0.5 else LEVEL_OF[round(1 - q, 3)]
        side = "lo" if q < 0.5 else "hi"
        out[quantile_column(q)] = df[f"{model}-{side}-{lv}"].clip(lower=0).to_numpy()
    qcols = [quantile_column(q) for q in M5_QUANTILES]
    out[qcols] = np.maximum.accumulate(out[qcols].to_numpy(), axis=1)
    return out


def statsforecast_peers(train: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, float, float]]:
    from statsforecast import StatsForecast
    from statsforecast.models import ADIDA, IMAPA, TSB, AutoETS, CrostonOptimized, SeasonalNaive
    from statsforecast.utils import ConformalIntervals

    models = [
        SeasonalNaive(7),
        AutoETS(season_length=7),
        CrostonOptimized(),
        TSB(0.1, 0.1),
        ADIDA(),
        IMAPA(),
    ]
    df = train[[C.UNIQUE_ID, C.DS, C.Y]]
    results = {}
    for model in models:  # one at a time, so each gets its own time and memory figure
        sf = StatsForecast(models=[model], freq="D", n_jobs=1)
        name = repr(model)
        fc, s, mem = timed(
            lambda sf=sf: sf.forecast(
                df=df,
                h=H,
                level=[99, 95, 67, 50],
                prediction_intervals=ConformalIntervals(h=H, n_windows=2),
            )
        )
        results[f"statsforecast {name}"] = (interval_quantiles(fc, name), s, mem)
        log.info("peer %s: %.1f s", name, s)
    return results


def mlforecast_peer(train: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, float, float]]:
    from lightgbm import LGBMRegressor
    from mlforecast import MLForecast
    from mlforecast.utils import PredictionIntervals

    df = train[[C.UNIQUE_ID, C.DS, C.Y]]

    def run():
        mlf = MLForecast(
            models={"LGBMRegressor": LGBMRegressor(verbosity=-1)},
            freq="D",
            lags=[7, 14, 28],
            date_features=["dayofweek", "month"],
        )
        mlf.fit(df, prediction_intervals=PredictionIntervals(n_windows=2, h=H))
        return mlf.predict(H, level=[99, 95, 67, 50])

    fc, s, mem = timed(run)
    log.info("peer mlforecast LGBMRegressor: %.1f s", s)
    return {"mlforecast LGBMRegressor": (interval_quantiles(fc, "LGBMRegressor"), s, mem)}


# --- ours -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="forecasting benchmark")
    parser.add_argument("--dataset", choices=sorted(DAILY), default="online_retail")
    parser.add_argument(  # every model the BENCHMARKS tables show: `make bench-forecast` re-makes them
        "--models",
        default="exp_smoothing,croston_sba,tsb,lightgbm,lightgbm_direct,lstm,tft,ensemble,hierarchical",
    )
    parser.add_argument(
        "--override", action="append", default=[], help="Hydra override of the forecast config"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    warnings.filterwarnings("ignore")
    t_start = time.perf_counter()
    data = DAILY[args.dataset]()
    train, test, static, known = data["train"], data["test"], data["static"], data["known"]
    log.info(
        "%s: %d series, train %s..%s, test %s..%s",
        args.dataset,
        train[C.UNIQUE_ID].nunique(),
        train[C.DS].min().date(),
        train[C.DS].max().date(),
        test[C.DS].min().date(),
        test[C.DS].max().date(),
    )
    names = args.models.split(",")
    factories = our_models(names, args.override)

    # 1. champion selection on the training data only (last 28 training days)
    spec = BacktestSpec(horizon=H, windows=1, step=H, known_covariates=known)
    validation = {}
    for name in names:
        res = backtest(factories[name], train, static, spec)
        validation[name] = res.overall["wrmsse"]
        log.info("validation %s: wrmsse %.4f", name, validation[name])
    champion = min(validation, key=validation.get)
    log.info("champion by validation: %s", champion)

    # 2. every model and peer: fit on all training data, forecast the test window
    future = known_future(test, known)
    results: dict[str, tuple[pd.DataFrame, float, float]] = {}
    choices: dict[str, dict] = {}  # what composite models chose on their own validation window

    def fit_predict(name: str) -> pd.DataFrame:
        model = factories[name]().fit(train, static)
        choices[name] = choice_tags(model)
        return model.predict(H, future)

    for name in names:
        results[name] = timed(lambda name=name: fit_predict(name))
        log.info("ours %s: %.1f s", name, results[name][1])
    results |= statsforecast_peers(train)
    results |= mlforecast_peer(train)
    # a peer with no model of dispersion: each series' quantiles of its last 56 days (issue 13)
    results["peer empirical_quantiles_56"] = timed(
        lambda: EmpiricalQuantiles(window=56).fit(train, static).predict(H, future)
    )

    rows = []
    for name, (fc, seconds, mem) in results.items():
        _, overall = evaluate(fc, test, train)
        rows.append(
            {
                "model": name,
                "ours": not name.startswith(("statsforecast", "mlforecast", "peer ")),
                "validation_wrmsse": validation.get(name),
                **overall,
                "fit_predict_s": seconds,
                "peak_rss_gb": mem,
            }
        )
    table = pd.DataFrame(rows)
    peers = table[~table["ours"]]
    best_peer_wrmsse = peers["wrmsse"].min()
    best_peer_wspl = peers["wspl"].min()
    champ = table.set_index("model").loc[champion]
    summary = {
        "dataset": args.dataset,
        "series": int(train[C.UNIQUE_ID].nunique()),
        "champion": champion,
        "champion_wrmsse": float(champ["wrmsse"]),
        "best_peer_wrmsse": float(best_peer_wrmsse),
        "best_peer_wrmsse_model": peers.loc[peers["wrmsse"].idxmin(), "model"],
        "wrmsse_ratio": float(champ["wrmsse"] / best_peer_wrmsse),
        "wrmsse_target_met": bool(champ["wrmsse"] <= 0.95 * best_peer_wrmsse),
        "champion_wspl": float(champ["wspl"]),
        "best_peer_wspl": float(best_peer_wspl),
        "best_peer_wspl_model": peers.loc[peers["wspl"].idxmin(), "model"],
        "wspl_ratio": float(champ["wspl"] / best_peer_wspl),
        "wspl_target_met": bool(champ["wspl"] <= 0.80 * best_peer_wspl),  # issue 13
        "total_s": time.perf_counter() - t_start,
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "overrides": args.override,
        "choices": {k: v for k, v in choices.items() if v},
    }

    # 3. the champion's forecast file
    OUT.mkdir(parents=True, exist_ok=True)
    qcols = [quantile_column(q) for q in M5_QUANTILES]
    if data["final"] is None:
        out = results[champion][0]
    else:
        hist, fut = data["final"]
        out = factories[champion]().fit(hist, static).predict(H, known_future(fut, known))
    out = out[[C.UNIQUE_ID, C.DS, Y_HAT, *qcols]]
    out.to_parquet(OUT / f"forecast_{args.dataset}.parquet", index=False)
    summary["total_s"] = time.perf_counter() - t_start
    (OUT / f"forecast_{args.dataset}_metrics.json").write_text(
        json.dumps({"summary": summary, "table": table.to_dict("records")}, indent=2, default=float)
    )
    text = render(table, summary)
    write_section(
        f"bench-forecast-{args.dataset}", text, f"### `make bench-forecast DATASET={args.dataset}`"
    )
    print(text)
    return summary


def render(table: pd.DataFrame, s: dict) -> str:
    t = table.sort_values("wrmsse")
    lines = [
        f"Measured {s['date']} on {s['cpus']} CPUs; {s['series']} series, 28-day test window; whole benchmark "
        f"{s['total_s'] / 60:.1f} min. Champion chosen on the last 28 training days (validation WRMSSE), "
        "never on the test window. Time and memory: fit + predict of the final model in this process "
        "(peak RSS of the whole process, which also holds the data).",
        "",
        "| model | ours | validation WRMSSE | WRMSSE | mean RMSSE | WSPL | 95% coverage | bias | fit+predict s | peak RSS GB |",
        "| --- | :-: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for _, r in t.iterrows():
        champ = " **(champion)**" if r["model"] == s["champion"] else ""
        val = f"{r['validation_wrmsse']:.4f}" if pd.notna(r["validation_wrmsse"]) else ""
        lines.append(
            f"| {r['model']}{champ} | {'yes' if r['ours'] else ''} | {val} | {r['wrmsse']:.4f} | {r['rmsse_mean']:.4f} "
            f"| {r['wspl']:.4f} | {r['coverage_95']:.3f} | {r['bias']:+.3f} | {r['fit_predict_s']:.1f} | {r['peak_rss_gb']:.2f} |"
        )
    ok = lambda b: "met" if b else "**MISSED**"  # noqa: E731
    lines += [
        "",
        f"- WRMSSE: champion {s['champion']} {s['champion_wrmsse']:.4f} vs best peer {s['best_peer_wrmsse_model']} "
        f"{s['best_peer_wrmsse']:.4f} = ratio {s['wrmsse_ratio']:.3f} (target ≤ 0.95): {ok(s['wrmsse_target_met'])}",
        f"- WSPL: champion {s['champion_wspl']:.4f} vs best peer {s['best_peer_wspl_model']} {s['best_peer_wspl']:.4f} "
        f"= ratio {s['wspl_ratio']:.3f} (target ≤ 0.80): {ok(s['wspl_target_met'])}",
    ]
    for name, tags in s.get("choices", {}).items():  # chosen inside the final fit, on training data
        said = "; ".join(f"{k}: {v}" for k, v in tags.items())
        lines.append(f"- {name} chose on the last periods of its training data: {said}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
