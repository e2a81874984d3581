"""What the benchmarks share, in one place: where things are, the daily-protocol data sets and
their validation windows, timing and peak memory, our configured forecasters, and writing a
table into ``docs/BENCHMARKS.md``. No benchmark imports another benchmark (the forecasting
benchmark's ``m5_monthly`` data set is its own module, called by the Makefile)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import psutil

from src.features import columns as C
from src.features.panel import calendar_features
from src.forecast.backtest import BacktestSpec
from src.forecast.metrics import M5_QUANTILES
from src.forecast.pipeline import model_factories

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"  # M5 lives beside the repository, never inside it
OUT = REPO / "benchmarks" / "out"
DOC = REPO / "docs" / "BENCHMARKS.md"
H = 28  # the daily protocols' horizon and window length


# --- the daily-protocol data sets ----------------------------------------------------------


def online_retail_lines() -> pd.DataFrame:
    """Merchandise sale lines of both UCI files, per the protocol above (``ds``, ``revenue``)."""
    raw = REPO / "data" / "raw"
    a = pd.read_parquet(raw / "online_retail_ii_2009_2010.parquet").rename(
        columns={"Invoice": "InvoiceNo", "Price": "UnitPrice", "Customer ID": "CustomerID"}
    )
    b = pd.read_parquet(raw / "online_retail.parquet")
    d = pd.concat([a[a.InvoiceDate < "2010-12-01"], b], ignore_index=True)
    d = d[~d.InvoiceNo.str.startswith("C") & (d.Quantity > 0) & (d.UnitPrice > 0)]
    d = d[d.StockCode.str.match(r"^\d{5}[A-Za-z]{0,2}$")]
    d["ds"] = d.InvoiceDate.dt.normalize().astype("datetime64[ns]")
    d["revenue"] = d.Quantity * d.UnitPrice
    return d


def online_retail() -> dict:
    d = online_retail_lines()
    daily = (
        d.groupby(["StockCode", "ds"])
        .agg(y=("Quantity", "sum"), revenue=("revenue", "sum"))
        .reset_index()
    )
    train_end, test_start, test_end = (
        pd.Timestamp("2011-11-11"),
        pd.Timestamp("2011-11-12"),
        pd.Timestamp("2011-12-09"),
    )
    last_year = daily[(daily.ds > train_end - pd.Timedelta(days=365)) & (daily.ds <= train_end)]
    top = last_year.groupby("StockCode").revenue.sum().nlargest(1000).index
    daily = daily[daily.StockCode.isin(top)]
    dates = pd.date_range(d.ds.min(), test_end, freq="D")
    grid = pd.MultiIndex.from_product([sorted(top), dates], names=[C.UNIQUE_ID, C.DS])
    panel = (
        daily.rename(columns={"StockCode": C.UNIQUE_ID})
        .set_index([C.UNIQUE_ID, C.DS])
        .reindex(grid)
    )
    panel["y"] = panel["y"].fillna(0.0)
    panel[C.PRICE] = (
        (panel["revenue"] / panel["y"].where(panel["y"] > 0))
        .groupby(level=0)
        .ffill()
        .groupby(level=0)
        .bfill()
    )
    panel = panel.drop(columns="revenue").reset_index()
    panel = panel.merge(calendar_features(panel[C.DS], "D", "GB"), on=C.DS, how="left")
    train = panel[panel[C.DS] <= train_end].reset_index(drop=True)
    test = panel[(panel[C.DS] >= test_start) & (panel[C.DS] <= test_end)].reset_index(drop=True)
    static = pd.DataFrame({C.UNIQUE_ID: sorted(top)})
    static[C.CATEGORY] = static[C.UNIQUE_ID].str[:3]  # StockCode families (first digits)
    known = ("dow", "week", "month", "day", "holiday")
    return {"train": train, "test": test, "static": static, "known": known, "final": None}


def m5_subset() -> dict:
    from src.features.adapters import m5

    hist, static, future = m5.panel(SHARED)
    static = static.rename(columns={"dept_id": C.CATEGORY})[[C.UNIQUE_ID, C.CATEGORY]]
    cut = pd.Timestamp("2016-04-24")  # d_1913
    known = ("price", "price_ratio", "snap", "event", "dow", "month")
    return {
        "train": hist[hist[C.DS] <= cut].reset_index(drop=True),
        "test": hist[hist[C.DS] > cut].reset_index(drop=True),
        "static": static,
        "known": known,
        "final": (hist, future),  # refit on d_1..d_1941, forecast d_1942..d_1969
    }


DAILY = {"online_retail": online_retail, "m5_subset": m5_subset}  # the daily-protocol data sets


def validation_spec(data: dict, windows: int) -> BacktestSpec:
    """The ``windows`` 28-day windows ending where ``data``'s test window starts: where
    configuration choices (ensemble members, a study's trial) are made, never on the test."""
    return BacktestSpec(horizon=H, windows=windows, step=H, known_covariates=data["known"])


def our_models(names: list[str], overrides: list[str]) -> dict[str, Callable]:
    """Our forecasters as ``conf/forecast`` configures them (daily, the M5 quantiles)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train_forecast", ["granularity=sku_daily", *overrides])
    fc = OmegaConf.to_container(cfg.forecast, resolve=True)
    return model_factories(fc, names, "D", M5_QUANTILES)


# --- measuring --------------------------------------------------------------------------------


class PeakMemory:
    """Peak resident memory of this process while the block runs (sampled every 20 ms)."""

    def __enter__(self):
        self.proc = psutil.Process(os.getpid())
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_gb = self.peak / 1024**3


def timed(fn: Callable[[], pd.DataFrame]) -> tuple[pd.DataFrame, float, float]:
    with PeakMemory() as mem:
        t = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - t
    return out, seconds, mem.peak_gb


# --- reporting --------------------------------------------------------------------------------


def write_section(key: str, text: str, heading: str, doc: Path = DOC) -> None:
    """Replace what stands between ``<!-- key:start -->`` and ``<!-- key:end -->`` (appending a
    ``heading`` and the markers if the document has none yet)."""
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    current = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if start not in current:
        current += f"\n{heading}\n\n{start}\n{end}\n"
    head, rest = current.split(start, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{start}\n{text}\n{end}{tail}")
