"""Small seeded panels with known structure, for tests and quick experiments."""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.features import columns as C


def daily_panel(
    n_series: int = 6,
    length: int = 180,
    seed: int = 0,
    intermittent_share: float = 0.33,
    start: str = "2024-01-01",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(panel, static_df)``: weekly-seasonal Poisson demand, some series intermittent.

    Covariates: ``price``, ``price_ratio``, ``promo`` (price cut with uplift), ``dow``, ``month``.
    """
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=length, freq="D")
    dow = dates.dayofweek.to_numpy()
    rows = []
    for i in range(n_series):
        intermittent = i < n_series * intermittent_share
        base = rng.uniform(0.2, 0.6) if intermittent else rng.uniform(4, 12)
        weekly = 1 + 0.5 * (dow >= 5)
        promo = rng.random(length) < 0.08
        price = np.where(promo, 8.0, 10.0)
        rate = base * weekly * np.where(promo, 1.6, 1.0)
        rows.append(
            pd.DataFrame(
                {
                    C.UNIQUE_ID: f"s{i}",
                    C.DS: dates,
                    C.Y: rng.poisson(rate).astype(float),
                    C.PRICE: price,
                    "price_ratio": price / 10.0,
                    C.PROMO: promo.astype(float),
                    "dow": dow,
                    "month": dates.month,
                    "true_rate": rate,
                }
            )
        )
    panel = pd.concat(rows, ignore_index=True)
    static = pd.DataFrame(
        {
            C.UNIQUE_ID: [f"s{i}" for i in range(n_series)],
            C.CATEGORY: [
                "slow" if i < n_series * intermittent_share else "fast" for i in range(n_series)
            ],
        }
    )
    return panel, static
