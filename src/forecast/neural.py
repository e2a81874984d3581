"""LSTM and TFT through darts (Lightning trainer), trained with a quantile loss.

* ``kind="lstm"`` — darts ``RNNModel(model="LSTM")``: autoregressive, with **future** covariates;
* ``kind="tft"`` — darts ``TFTModel``: **past** covariates (realised only: e.g. the realised
  price ratio), **future** covariates (known ahead: calendar, holidays, events, SNAP, planned
  price) and **static** covariates (the series' category).

Each series is divided by its mean level over the training window, so one network serves
series of very different volume; forecasts are scaled back. Calendar covariates are scaled to
[0, 1]. Sizes, epochs and samples per series come from config; ``accelerator="gpu"`` is the
switch to a GPU. Quantiles come from the quantile-regression head: directly when the horizon
fits in one output chunk (TFT), else from ``num_samples`` sampled paths.

A serious training budget (issue 13): ``validation`` periods at the end are held out and
training stops when their loss has not improved for ``early_stopping_patience`` epochs (so
``epochs`` is a ceiling, not a guess); ``weight_by_revenue`` weights each series' training
samples by its share of revenue (units x price) — the loss then matches WRMSSE's weights instead
of treating a slow SKU like a best-seller.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from src.features import columns as C
from src.forecast.base import FREQ_OFFSETS, Forecaster, write_class
from src.forecast.metrics import M5_QUANTILES

log = logging.getLogger(__name__)

SCALES = {"dow": 6.0, "week": 53.0, "month": 12.0, "day": 31.0}
DEFAULT_PAST = ("price_ratio",)
DEFAULT_FUTURE = ("dow", "month", "week", "holiday", "event", "snap", "promo")


class DartsForecaster(Forecaster):
    uses_future_covariates = True
    uses_static = True

    def __init__(
        self,
        kind: str = "tft",
        input_chunk_length: int = 56,
        output_chunk_length: int = 28,
        hidden_size: int = 16,
        n_layers: int = 1,
        dropout: float = 0.1,
        num_attention_heads: int = 2,
        epochs: int = 3,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        max_samples_per_ts: int | None = 40,
        train_window: int | None = 365,
        num_samples: int = 100,
        past_covariates: Sequence[str] = DEFAULT_PAST,
        future_covariates: Sequence[str] = DEFAULT_FUTURE,
        validation: int | None = None,
        early_stopping_patience: int = 3,
        weight_by_revenue: bool = False,
        accelerator: str = "cpu",
        devices: int | str = 1,
        progress_bar: bool = False,
        seed: int = 0,
        quantiles: Sequence[float] = M5_QUANTILES,
        freq: str = "D",
    ):
        if kind not in ("lstm", "tft"):
            raise ValueError("DartsForecaster kind must be 'lstm' or 'tft'")
        super().__init__(quantiles, freq)
        self.kind = kind
        self.name = kind
        self.input_chunk_length = input_chunk_length
        self.output_chunk_length = output_chunk_length
        self.hidden_size = hidden_size
        self.n_layers = n_layers
        self.dropout = dropout
        self.num_attention_heads = num_attention_heads
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_samples_per_ts = max_samples_per_ts
        self.train_window = train_window
        self.num_samples = num_samples
        self.past_names = tuple(past_covariates) if kind == "tft" else ()
        self.future_names = tuple(future_covariates)
        self.validation = validation
        self.early_stopping_patience = int(early_stopping_patience)
        self.weight_by_revenue = weight_by_revenue
        self.accelerator = accelerator
        self.devices = devices
        self.progress_bar = progress_bar
        self.seed = seed
        self.model_ = None

    # --- darts plumbing ---------------------------------------------------------------------
    def _build(self):
        from darts.models import RNNModel, TFTModel
        from darts.utils.likelihood_models import QuantileRegression

        trainer = {
            "accelerator": self.accelerator,
            "devices": self.devices,
            "enable_progress_bar": self.progress_bar,
            "enable_model_summary": False,
            "logger": False,
            "enable_checkpointing": False,
        }
        if self.validation:
            from pytorch_lightning.callbacks import EarlyStopping

            trainer["callbacks"] = [
                EarlyStopping(monitor="val_loss", patience=self.early_stopping_patience, mode="min")
            ]
        common = {
            "batch_size": self.batch_size,
            "n_epochs": self.epochs,
            "optimizer_kwargs": {"lr": self.learning_rate},
            "likelihood": QuantileRegression(quantiles=sorted(set(self.quantiles) | {0.5})),
            "random_state": self.seed,
            "pl_trainer_kwargs": trainer,
            "save_checkpoints": False,
        }
        if self.kind == "tft":
            return TFTModel(
                input_chunk_length=self.input_chunk_length,
                output_chunk_length=self.output_chunk_length,
                hidden_size=self.hidden_size,
                lstm_layers=self.n_layers,
                num_attention_heads=self.num_attention_heads,
                dropout=self.dropout,
                add_relative_index=not self.future_names,
                **common,
            )
        return RNNModel(
            model="LSTM",
            input_chunk_length=self.input_chunk_length,
            training_length=self.input_chunk_length + self.output_chunk_length,
            hidden_dim=self.hidden_size,
            n_rnn_layers=self.n_layers,
            dropout=self.dropout,
            **common,
        )

    def _series(
        self, frame: pd.DataFrame, columns: Sequence[str], static: pd.DataFrame | None = None
    ):
        from darts import TimeSeries

        if not columns:
            return None
        df = frame[[C.UNIQUE_ID, C.DS, *columns]].copy()
        for c in columns:
            df[c] = df[c].astype("float32") / SCALES.get(c, 1.0)
        kwargs = {}
        if static is not None:
            df = df.merge(static, on=C.UNIQUE_ID, how="left")
            kwargs["static_cols"] = [c for c in static.columns if c != C.UNIQUE_ID]
        series = TimeSeries.from_group_dataframe(
            df,
            group_cols=C.UNIQUE_ID,
            time_col=C.DS,
            value_cols=list(columns),
            freq=FREQ_OFFSETS[self.freq],
            fill_missing_dates=True,
            fillna_value=0.0,
            drop_group_cols=C.UNIQUE_ID,
            **kwargs,
        )
        # groups come back sorted by unique_id, as self.ids_ are
        if len(series) != len(self.ids_):
            raise ValueError(f"{self.name}: {len(series)} series built for {len(self.ids_)} ids")
        return series

    def _frames(self, panel: pd.DataFrame) -> pd.DataFrame:
        df = panel.copy()
        df[C.Y] = df[C.Y] / df[C.UNIQUE_ID].map(self.scale_)
        return df

    def _fit(self, panel: pd.DataFrame, static_df: pd.DataFrame | None) -> None:
        import torch

        torch.set_float32_matmul_precision("medium")
        self.past_names = tuple(c for c in self.past_names if c in panel)
        self.future_names = tuple(c for c in self.future_names if c in panel)
        if self.train_window:
            first = self.last_ds_ - pd.tseries.frequencies.to_offset(FREQ_OFFSETS[self.freq]) * (
                self.train_window + self.input_chunk_length
            )
            panel = panel[panel[C.DS] > first]
        # series shorter than one training sample are padded with leading zeros
        need = (
            self.input_chunk_length + self.output_chunk_length + 1
        )  # RNNModel: training_length + 1
        panel = _pad_start(panel, need, self.freq)
        level = panel.groupby(C.UNIQUE_ID)[C.Y].mean()
        self.scale_ = (level.where(level > 0, 1.0) + 1e-3).reindex(self.ids_).fillna(1.0)
        static = None
        if static_df is not None and C.CATEGORY in static_df:
            static = static_df[[C.UNIQUE_ID, C.CATEGORY]].copy()
            codes, uniques = pd.factorize(static[C.CATEGORY])
            static[C.CATEGORY] = (codes / max(len(uniques) - 1, 1)).astype("float32")
        self.static_ = static
        self.history_ = panel  # covariates for prediction (future ones are appended at predict)
        df = self._frames(panel)
        target = self._series(df, [C.Y], static if self.kind == "tft" else None)
        past = self._series(df, self.past_names)
        future = self._series(df, self.future_names)
        self.model_ = self._build()
        fit_kwargs = {
            "series": target,
            "max_samples_per_ts": self.max_samples_per_ts,
            "verbose": False,
        }
        if past is not None:
            fit_kwargs["past_covariates"] = past
        if future is not None:
            # future covariates must reach past the training end by one output chunk
            future = self._series(
                self._frames(_extend(panel, self.output_chunk_length, self.freq)), self.future_names
            )
            fit_kwargs["future_covariates"] = future
        if self.weight_by_revenue:
            fit_kwargs["sample_weight"] = self._weights(panel, target)
        if self.validation:
            self._hold_out(fit_kwargs)
        log.info(
            "%s: training on %d series, at most %d epochs%s",
            self.kind,
            len(target),
            self.epochs,
            f", early stopping on the last {self.validation} periods" if self.validation else "",
        )
        self.model_.fit(**fit_kwargs)
        self.epochs_trained_ = int(self.model_.epochs_trained)
        self.alpha_ = None  # quantiles come from the network

    def _weights(self, panel: pd.DataFrame, target) -> list:
        """Per series, a constant sample weight: its revenue share x the number of series (mean
        1), floored at 0.05 so no series is ignored."""
        from darts import TimeSeries

        price = panel[C.PRICE].fillna(0.0) if C.PRICE in panel else 1.0
        revenue = (panel[C.Y].clip(lower=0) * price).groupby(panel[C.UNIQUE_ID]).sum()
        revenue = revenue.reindex(self.ids_).fillna(0.0)
        w = revenue / revenue.mean() if revenue.mean() > 0 else revenue * 0 + 1.0
        w = np.maximum(w.to_numpy(), 0.05)
        return [
            TimeSeries.from_times_and_values(s.time_index, np.full(len(s), wi, dtype="float32"))
            for s, wi in zip(target, w, strict=True)
        ]

    def _hold_out(self, kw: dict) -> None:
        """Train on all but the last ``validation`` periods; validate on windows ending there."""
        v = int(self.validation)
        tail = self.input_chunk_length + self.output_chunk_length + v

        def cut(items, keep_future=0):
            return [s[: len(s) - v + keep_future] for s in items]

        series = kw["series"]
        kw["val_series"] = [s[-tail:] for s in series]
        kw["series"] = cut(series)
        if "past_covariates" in kw:
            kw["val_past_covariates"] = kw["past_covariates"]
        if "future_covariates" in kw:
            kw["val_future_covariates"] = kw["future_covariates"]
        if "sample_weight" in kw:
            kw["val_sample_weight"] = [w[-tail:] for w in kw["sample_weight"]]
            kw["sample_weight"] = cut(kw["sample_weight"])

    def predict(self, h: int, future_covariates: pd.DataFrame | None = None) -> pd.DataFrame:
        if self.model_ is None:
            raise RuntimeError(f"{self.name}: call fit() before predict()")
        df = self._frames(self.history_)
        target = self._series(df, [C.Y], self.static_ if self.kind == "tft" else None)
        kwargs = {"n": h, "series": target, "verbose": False}
        if self.past_names:
            kwargs["past_covariates"] = self._series(df, self.past_names)
        if self.future_names:
            ahead = _extend(
                self.history_, h + self.output_chunk_length, self.freq, future_covariates
            )
            kwargs["future_covariates"] = self._series(self._frames(ahead), self.future_names)
        direct = self.kind == "tft" and h <= self.output_chunk_length
        if direct:
            kwargs["predict_likelihood_parameters"] = True
        else:
            kwargs["num_samples"] = self.num_samples
        preds = self.model_.predict(**kwargs)
        levels = sorted(set(self.quantiles) | {0.5})
        n = len(self.ids_)
        q = np.empty((n, h, len(self.quantiles)))
        mean = np.empty((n, h))
        for i, p in enumerate(preds):
            vals = p.all_values()  # (h, components, samples)
            if direct:
                by_level = {lv: vals[:, j, 0] for j, lv in enumerate(levels)}
                # the point forecast is the distribution's mean, not its median (0 for
                # intermittent series): integrate the predicted quantile function
                med = mean_from_quantiles(levels, np.stack([by_level[lv] for lv in levels], axis=1))
            else:
                by_level = {lv: np.quantile(vals[:, 0, :], lv, axis=1) for lv in self.quantiles}
                med = np.median(vals[:, 0, :], axis=1)
                mean_path = vals[:, 0, :].mean(axis=1)
            s = self.scale_.iat[i]
            for j, lv in enumerate(self.quantiles):
                q[i, :, j] = by_level[lv] * s
            mean[i] = (med if direct else mean_path) * s
        q = np.maximum.accumulate(np.clip(q, 0, None), axis=2)
        return self.to_frame(np.clip(mean, 0, None), q)

    # --- persistence ------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        model, self.model_ = self.model_, None
        try:
            with open(path / "model.pkl", "wb") as fh:
                pickle.dump(self, fh)
            if model is not None:
                model.save(str(path / "darts_model.pt"))
            write_class(path, self)
        finally:
            self.model_ = model
        return path

    @classmethod
    def load(cls, path: str | Path) -> DartsForecaster:
        from darts.models import RNNModel, TFTModel

        path = Path(path)
        with open(path / "model.pkl", "rb") as fh:
            obj = pickle.load(fh)
        if (path / "darts_model.pt").exists():
            klass = TFTModel if obj.kind == "tft" else RNNModel
            obj.model_ = klass.load(str(path / "darts_model.pt"), map_location="cpu")
            obj.model_.to_cpu()
        return obj


def mean_from_quantiles(levels: Sequence[float], values: np.ndarray) -> np.ndarray:
    """E[Y] ≈ ∫₀¹ Q(u) du by the trapezoid rule over the given levels, Q flat beyond them.

    ``values``: (h, len(levels)) quantile values at increasing ``levels``.
    """
    u = np.concatenate([[0.0], np.asarray(levels, float), [1.0]])
    v = np.concatenate([values[:, :1], values, values[:, -1:]], axis=1)
    return np.trapezoid(v, u, axis=1)


def _pad_start(panel: pd.DataFrame, need: int, freq: str) -> pd.DataFrame:
    counts = panel.groupby(C.UNIQUE_ID)[C.DS].agg(["min", "size"])
    short = counts[counts["size"] < need]
    if short.empty:
        return panel
    offset = pd.tseries.frequencies.to_offset(FREQ_OFFSETS[freq])
    pads = []
    for uid, row in short.iterrows():
        k = need - row["size"]
        dates = pd.date_range(end=row["min"] - offset, periods=k, freq=offset)
        pads.append(pd.DataFrame({C.UNIQUE_ID: uid, C.DS: dates, C.Y: 0.0}))
    first = panel.sort_values(C.DS).groupby(C.UNIQUE_ID).head(1).set_index(C.UNIQUE_ID)
    pad = pd.concat(pads, ignore_index=True)
    for c in panel.columns.difference([C.UNIQUE_ID, C.DS, C.Y]):
        pad[c] = pad[C.UNIQUE_ID].map(first[c])
    return pd.concat([pad, panel], ignore_index=True).sort_values(
        [C.UNIQUE_ID, C.DS], ignore_index=True
    )


def _extend(
    panel: pd.DataFrame, h: int, freq: str, future: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Panel plus ``h`` future periods: covariates from ``future`` where given, else calendar
    values computed from the date and other covariates carried forward; ``y`` = 0 there."""
    offset = pd.tseries.frequencies.to_offset(FREQ_OFFSETS[freq])
    last = panel[C.DS].max()
    dates = pd.date_range(last + offset, periods=h, freq=offset)
    ids = panel[C.UNIQUE_ID].unique()
    grid = pd.DataFrame({C.UNIQUE_ID: np.repeat(ids, h), C.DS: np.tile(dates, len(ids))})
    if future is not None and not future.empty:
        cols = [c for c in future.columns if c in panel.columns and c != C.Y]
        grid = grid.merge(
            future[cols].drop_duplicates([C.UNIQUE_ID, C.DS]), on=[C.UNIQUE_ID, C.DS], how="left"
        )
    calendar = {
        "dow": grid[C.DS].dt.dayofweek,
        "month": grid[C.DS].dt.month,
        "day": grid[C.DS].dt.day,
        "week": grid[C.DS].dt.isocalendar().week.astype(int),
    }
    last_rows = panel.sort_values(C.DS).groupby(C.UNIQUE_ID).tail(1).set_index(C.UNIQUE_ID)
    for c in panel.columns.difference([C.UNIQUE_ID, C.DS, C.Y]):
        if c not in grid:
            grid[c] = np.nan
        if c in calendar:
            fill = calendar[c]
        elif c in ("holiday", "event", "promo"):  # unknown ahead: assume none
            fill = pd.Series(0, index=grid.index)
        else:  # e.g. price: carry the last known value forward
            fill = grid[C.UNIQUE_ID].map(last_rows[c])
        grid[c] = grid[c].fillna(fill)
    grid[C.Y] = 0.0
    return pd.concat([panel, grid[panel.columns]], ignore_index=True)
