"""Figures logged with forecasting runs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from src.features import columns as C  # noqa: E402
from src.forecast.metrics import Y_HAT, quantile_column  # noqa: E402


def forecast_vs_actual(
    history: pd.DataFrame,
    forecasts: pd.DataFrame,
    series: list[str],
    lookback: int = 56,
    interval: tuple[float, float] = (0.025, 0.975),
    title: str = "",
):
    """One panel per series: recent history, actuals, the forecast and its interval."""
    n = len(series)
    cols = 2 if n > 1 else 1
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 2.6 * rows), squeeze=False)
    lo, hi = quantile_column(interval[0]), quantile_column(interval[1])
    for ax, uid in zip(axes.ravel(), series, strict=False):
        f = forecasts[forecasts[C.UNIQUE_ID] == uid].sort_values(C.DS)
        h = history[(history[C.UNIQUE_ID] == uid) & (history[C.DS] < f[C.DS].min())].tail(lookback)
        ax.plot(h[C.DS], h[C.Y], color="0.4", lw=1, label="history")
        if C.Y in f:
            ax.plot(f[C.DS], f[C.Y], color="black", lw=1.2, label="actual")
        ax.plot(f[C.DS], f[Y_HAT], color="tab:blue", lw=1.5, label="forecast")
        if lo in f and hi in f:
            ax.fill_between(
                f[C.DS],
                f[lo],
                f[hi],
                color="tab:blue",
                alpha=0.2,
                label=f"{interval[0]:g}–{interval[1]:g}",
            )
        ax.set_title(str(uid), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
