"""Customer lifetime value: BG/NBD for purchase frequency and alive probability, Gamma-Gamma for
spend — pymc-marketing's CLV models (0.19.x, the last line for Python 3.11), fitted by MAP.

* :func:`orders` — one row per (customer, order) with its merchandise value, from the canonical
  transactions;
* :func:`fit` — both models on an RFM summary (``frequency`` = repeat purchase days, ``recency``,
  ``T`` in days, ``monetary_value`` = mean value of the repeat purchases);
* :func:`predict` — expected purchases over each horizon (3 / 6 / 12 months by default), the
  probability of being alive, expected spend per purchase, and the value over each horizon
  (purchases x spend, undiscounted), with value tiers by configured quantiles;
* :func:`evaluate` — calibration / holdout: predicted vs actual repeat purchases per customer and
  per frequency bucket, against the naive peer "each customer repeats their past rate"
  (``frequency / T`` per day).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from src.features import columns as C

log = logging.getLogger(__name__)
ORDER_DATE, ORDER_VALUE = "date", "value"
BUCKETS = (0, 1, 2, 3, 4, 5, 7, 10)  # calibration frequency bucket lower bounds


def orders(transactions: pd.DataFrame, products: pd.DataFrame | None = None) -> pd.DataFrame:
    """``customer_id, order_id, date, value`` of every known customer's sale orders, net of the
    returns linked to them (an order returned in full is no purchase: Online Retail's 80,995-unit
    order cancelled the same day would otherwise make its buyer the most valuable customer);
    merchandise only when ``products`` says which SKUs are merchandise."""
    tx = transactions[transactions[C.CUSTOMER_ID].notna()]
    if products is not None:
        merch = set(products.loc[products[C.IS_MERCHANDISE].astype(bool), C.SKU].astype(str))
        tx = tx[tx[C.SKU].astype(str).isin(merch)]
    value = tx[C.QTY].astype(float) * tx[C.UNIT_PRICE].astype(float)
    sale = (tx[C.LINE_TYPE] == C.LINE_SALE).to_numpy()
    out = (
        pd.DataFrame(
            {
                C.CUSTOMER_ID: tx[C.CUSTOMER_ID].astype(str).to_numpy()[sale],
                C.ORDER_ID: tx[C.ORDER_ID].astype(str).to_numpy()[sale],
                ORDER_DATE: tx[C.TS].dt.normalize().to_numpy()[sale],
                ORDER_VALUE: value.to_numpy()[sale],
            }
        )  # fmt: skip
        .groupby([C.CUSTOMER_ID, C.ORDER_ID], observed=True)
        .agg(**{ORDER_DATE: (ORDER_DATE, "min"), ORDER_VALUE: (ORDER_VALUE, "sum")})
        .reset_index()
    )
    if C.LINKED_ORDER_ID in tx:
        ret = tx[(tx[C.LINE_TYPE] == C.LINE_RETURN) & tx[C.LINKED_ORDER_ID].notna()]
        returned = value.loc[ret.index].groupby(ret[C.LINKED_ORDER_ID].astype(str)).sum()
        out[ORDER_VALUE] += out[C.ORDER_ID].map(returned).fillna(0.0).to_numpy()
    return out[out[ORDER_VALUE] > 0].reset_index(drop=True)


def summary(order_table: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    from pymc_marketing.clv.utils import rfm_summary

    return rfm_summary(
        order_table, C.CUSTOMER_ID, ORDER_DATE, monetary_value_col=ORDER_VALUE,
        observation_period_end=pd.Timestamp(end), time_unit="D",
    )  # fmt: skip


def split(order_table: pd.DataFrame, cal_end, test_end) -> pd.DataFrame:
    """Calibration summary up to ``cal_end`` with the holdout's ``test_frequency`` to
    ``test_end`` (customers who first bought in the holdout are not in it)."""
    from pymc_marketing.clv.utils import rfm_train_test_split

    return rfm_train_test_split(
        order_table, C.CUSTOMER_ID, ORDER_DATE, train_period_end=pd.Timestamp(cal_end),
        test_period_end=pd.Timestamp(test_end), monetary_value_col=ORDER_VALUE, time_unit="D",
    )  # fmt: skip


@dataclass
class ClvModels:
    frequency: object  # pymc_marketing.clv.BetaGeoModel (or ParetoNBDModel)
    spend: object | None  # pymc_marketing.clv.GammaGammaModel
    kind: str


def fit(rfm: pd.DataFrame, kind: str = "bg_nbd") -> ClvModels:
    from pymc_marketing import clv

    data = rfm[[C.CUSTOMER_ID, "frequency", "recency", "T"]]
    if kind == "bg_nbd":
        freq = clv.BetaGeoModel(data=data)
    elif kind == "pareto_nbd":
        freq = clv.ParetoNBDModel(data=data)
    else:
        raise ValueError(f"clv.model {kind!r} unknown; known: bg_nbd, pareto_nbd")
    freq.fit(method="map", progressbar=False)  # MAP: deterministic
    repeat = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]
    spend = None
    if len(repeat) >= 20:
        spend = clv.GammaGammaModel(data=repeat[[C.CUSTOMER_ID, "frequency", "monetary_value"]])
        spend.fit(method="map", progressbar=False)
    else:
        log.warning("CLV: only %d repeat customers; spend per purchase = overall mean", len(repeat))
    return ClvModels(freq, spend, kind)


def _mean(x) -> np.ndarray:
    return np.asarray(x.mean(("chain", "draw")).values if hasattr(x, "mean") else x)


def expected_purchases(models: ClvModels, rfm: pd.DataFrame, days: float) -> np.ndarray:
    data = rfm[[C.CUSTOMER_ID, "frequency", "recency", "T"]]
    return _mean(models.frequency.expected_purchases(data=data, future_t=days))


def predict(
    models: ClvModels,
    rfm: pd.DataFrame,
    horizons_days: Sequence[int] = (91, 182, 365),
    tier_quantiles: Sequence[float] = (0.5, 0.8, 0.95),
) -> pd.DataFrame:
    """Per customer: ``p_alive``, ``purchases_<d>d``, ``spend_per_purchase``, ``value_<d>d``,
    ``clv_tier`` (1 = lowest; tier k above the k-1-th quantile of 12-month value)."""
    data = rfm[[C.CUSTOMER_ID, "frequency", "recency", "T"]]
    out = pd.DataFrame({C.CUSTOMER_ID: rfm[C.CUSTOMER_ID].astype(str).to_numpy()})
    out["frequency"] = rfm["frequency"].to_numpy()
    out["p_alive"] = _mean(models.frequency.expected_probability_alive(data=data))
    if models.spend is not None:
        spend = _mean(models.spend.expected_customer_spend(
            data=rfm[[C.CUSTOMER_ID, "frequency", "monetary_value"]]))  # fmt: skip
    else:
        pos = rfm.loc[rfm["monetary_value"] > 0, "monetary_value"]
        spend = np.full(len(rfm), float(pos.mean()) if len(pos) else 0.0)
    out["spend_per_purchase"] = spend
    for d in horizons_days:
        out[f"purchases_{d}d"] = expected_purchases(models, rfm, d)
        out[f"value_{d}d"] = out[f"purchases_{d}d"] * out["spend_per_purchase"]
    last = f"value_{max(horizons_days)}d"
    cuts = np.quantile(out[last], tier_quantiles) if len(out) else []
    out["clv_tier"] = (1 + np.searchsorted(cuts, out[last].to_numpy(), side="right")).astype(int)
    return out


def naive_purchases(rfm: pd.DataFrame, days: float) -> np.ndarray:
    """The peer: each customer repeats their past rate (repeat purchases per day of age)."""
    T = rfm["T"].to_numpy(dtype=float)
    return np.where(T > 0, rfm["frequency"].to_numpy(dtype=float) / np.maximum(T, 1) * days, 0.0)


def evaluate(models: ClvModels, cal: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    """Holdout accuracy of repeat purchases (``cal`` from :func:`split`): MAE and totals of the
    model and of the naive peer, and the per-frequency-bucket table (mean predicted vs actual)."""
    days = float(cal["test_T"].iloc[0]) if "test_T" in cal else None
    if not days:
        raise ValueError("CLV evaluation needs a holdout (test_T) from clv.split")
    pred = expected_purchases(models, cal, days)
    naive = naive_purchases(cal, days)
    actual = cal["test_frequency"].to_numpy(dtype=float)
    metrics = {
        "holdout_days": days,
        "customers": int(len(cal)),
        "mae": float(np.abs(pred - actual).mean()),
        "mae_naive": float(np.abs(naive - actual).mean()),
        "total_predicted": float(pred.sum()),
        "total_actual": float(actual.sum()),
        "total_naive": float(naive.sum()),
    }
    metrics["mae_ratio_to_naive"] = metrics["mae"] / max(metrics["mae_naive"], 1e-12)
    metrics["total_error"] = metrics["total_predicted"] / max(metrics["total_actual"], 1e-12) - 1
    bucket = np.searchsorted(BUCKETS, cal["frequency"].to_numpy(), side="right") - 1
    labels = [f"{lo}" if hi - lo == 1 else f"{lo}-{hi - 1}" for lo, hi in zip(BUCKETS, BUCKETS[1:],
              strict=False)] + [f"{BUCKETS[-1]}+"]  # fmt: skip
    table = (
        pd.DataFrame(
            {
                "bucket": np.asarray(labels)[bucket],
                "order": bucket,
                "predicted": pred,
                "naive": naive,
                "actual": actual,
            }
        )  # fmt: skip
        .groupby(["order", "bucket"])
        .agg(
            customers=("actual", "size"),
            predicted=("predicted", "mean"),
            naive=("naive", "mean"),
            actual=("actual", "mean"),
        )  # fmt: skip
        .reset_index(level="order", drop=True)
        .reset_index()
    )
    return metrics, table


def holdout_errors(models: ClvModels, cal: pd.DataFrame) -> pd.DataFrame:
    """Per customer: repeat purchases predicted and actual over the holdout, and the absolute
    error — the evidence two CLV runs are compared on (``conf/tasks/clv.yaml``)."""
    days = float(cal["test_T"].iloc[0])
    pred = expected_purchases(models, cal, days)
    actual = cal["test_frequency"].to_numpy(dtype=float)
    return pd.DataFrame({"customer_id": cal.index.astype(str) if "customer_id" not in cal
                         else cal["customer_id"].astype(str), "predicted": pred,
                         "actual": actual, "abs_error": np.abs(pred - actual)})  # fmt: skip


def bucket_plot(table: pd.DataFrame, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(table))
    ax.bar(x - 0.27, table["actual"], 0.27, label="actual")
    ax.bar(x, table["predicted"], 0.27, label="BG/NBD")
    ax.bar(x + 0.27, table["naive"], 0.27, label="naive: past rate")
    ax.set_xticks(x, table["bucket"])
    ax.set_xlabel("repeat purchases in calibration")
    ax.set_ylabel("mean repeat purchases in holdout")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig
