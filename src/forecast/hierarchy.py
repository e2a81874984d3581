"""Forecasts that add up: base forecasts at every level of a hierarchy, reconciled.

A **hierarchy** is a list of levels, each a list of static columns to sum the bottom series over
(``[]`` is the total; ``["category"]`` the categories; ``["category", "location"]`` category x
location; the bottom series themselves are always the last level). It may be grouped rather than
strictly nested (the twelve M5 levels cross item, store, state, department and category).

:class:`Hierarchical` wraps a base forecaster: it sums the panel to every level, fits the base
model on all of those series at once (one pooled model; each aggregate gets its level and, where
the level has one, its category as statics), and reconciles the base forecasts with
``hierarchicalforecast`` — BottomUp, MinTrace (ols / wls_struct; the sparse variants scale to
tens of thousands of series), MinTrace weighed by the base model's forecast errors (wls_var,
mint_shrink: out-of-sample errors, see below) and, where the levels nest, TopDown by forecast
proportions. Which method, and which way to draw the quantiles, is chosen on the last
``validation`` periods of the fit data (mean over levels of the levels' WRMSSE; WSPL for the
quantiles), never on what is forecast — among the methods whose *bottom* series are not
significantly worse than the base model's own (paired bootstrap of per-series RMSSE against
bottom-up): planners buy per SKU, and a reconciler that spreads an aggregate correction evenly
(MinTrace ols) can win the mean over levels while moving small SKUs a lot.

Error-weighed MinTrace: the W of wls_var / mint_shrink comes from the base model's errors on a
held-out window, not from in-sample fits (which the models here do not all have). While
choosing, the errors are those of the window *before* validation, so the window that scores a
method did not also weigh it; the fitted model keeps the validation window's errors.

Coherence: reconciled means at every level equal the sum of their bottom series (within 1e-6).
Non-negative: the bottom means are clipped at zero and the levels above are their sums.
Quantiles: ``normality`` is hierarchicalforecast's probabilistic reconciliation (one coherent
Gaussian over all levels, from the base model's own intervals); ``base`` keeps each series'
base distribution (negative binomial for counts) rescaled to its reconciled mean — better for
intermittent SKUs, but the marginals do not come from one joint distribution. The validation
window picks between them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse, stats

from src.features import columns as C
from src.forecast.base import FREQ_OFFSETS, MODEL_COL, Forecaster
from src.forecast.metrics import Y_HAT, evaluate, quantile_column
from src.forecast.partitioned import _Composite

log = logging.getLogger(__name__)

LEVEL_COL = "hierarchy_level"
TOTAL = "total"
BOTTOM = "bottom"
METHODS = (
    "bottom_up",
    "min_trace_ols",
    "min_trace_wls_struct",
    "min_trace_wls_var",
    "min_trace_mint_shrink",
    "top_down_forecast_proportions",
)
# MinTrace variants whose W comes from forecast errors: here the base model's held-out errors
# (out-of-sample, per series and period), not in-sample fits
RESIDUAL_METHODS = ("min_trace_wls_var", "min_trace_mint_shrink")
DENSE_RESIDUAL_MAX = 6000  # series: a dense residual MinTrace's matrices stay under ~300 MB
INTERVALS = ("normality", "base")
# calendar-like covariates are the same for every series of a period: an aggregate takes the first
FIRST_COVARIATES = ("dow", "week", "month", "day", "holiday", "event", "snap")


def level_name(cols: Sequence[str]) -> str:
    return "/".join(cols) if cols else TOTAL


class Hierarchy:
    """The summing structure of ``static`` (one row per bottom series) over ``levels``."""

    def __init__(self, static: pd.DataFrame, levels: Sequence[Sequence[str]]):
        self.levels = [list(lv) for lv in levels]
        need = sorted({c for lv in self.levels for c in lv})
        missing = [c for c in need if c not in static]
        if missing:
            raise ValueError(
                f"hierarchy levels need static columns {missing}; the statics have "
                f"{sorted(static.columns)}"
            )
        s = static.drop_duplicates(C.UNIQUE_ID).sort_values(C.UNIQUE_ID).reset_index(drop=True)
        bad = s[need].isna().any(axis=1) if need else pd.Series(False, index=s.index)
        if bad.any():
            raise ValueError(
                f"hierarchy: {int(bad.sum())} series lack a value in {need}, e.g. "
                f"{s.loc[bad, C.UNIQUE_ID].head(3).tolist()}"
            )
        self.bottom = s[C.UNIQUE_ID].to_numpy(dtype=object)
        self.static = s
        n = len(s)
        ids, rows, cols, tags, parents = [], [], [], {}, {}
        self.of_bottom: dict[str, np.ndarray] = {}  # level -> aggregate id of each bottom series
        for lv in self.levels:
            name = level_name(lv)
            if lv:
                key = s[lv].astype(str)
                labels = key.apply(
                    lambda r, lv=lv: "/".join(f"{c}={v}" for c, v in zip(lv, r, strict=True)),
                    axis=1,
                )
            else:
                labels = pd.Series(TOTAL, index=s.index)
            codes, uniques = pd.factorize(labels, sort=True)
            base = len(ids)
            ids.extend(uniques)
            rows.append(base + codes)
            cols.append(np.arange(n))
            tags[name] = np.asarray(uniques, dtype=object)
            self.of_bottom[name] = labels.to_numpy(dtype=object)
            parents[name] = s[lv].assign(**{C.UNIQUE_ID: labels}).drop_duplicates(C.UNIQUE_ID)
        base = len(ids)
        ids.extend(self.bottom)
        rows.append(base + np.arange(n))
        cols.append(np.arange(n))
        tags[BOTTOM] = self.bottom
        self.ids = np.asarray(ids, dtype=object)
        if len(set(self.ids)) != len(self.ids):
            dup = pd.Series(self.ids).loc[lambda x: x.duplicated()].head(3).tolist()
            raise ValueError(f"hierarchy: an aggregate id equals a bottom id: {dup}")
        self.S = sparse.csr_matrix(
            (np.ones(sum(len(r) for r in rows)), (np.concatenate(rows), np.concatenate(cols))),
            shape=(len(self.ids), n),
        )
        self.tags = tags
        self.parents = parents
        self.nested = self._nested()

    def _nested(self) -> bool:
        """Strictly hierarchical: every level's columns contain the previous level's."""
        prev: set[str] = set()
        for lv in self.levels:
            if not prev <= set(lv):
                return False
            prev = set(lv)
        return True

    def smatrix(self):
        from hierarchicalforecast.utils import SMatrix

        return SMatrix(self.S.tocsc(), self.ids, self.bottom)

    def level_of(self) -> pd.Series:
        return pd.Series(
            {uid: lv for lv, ids in self.tags.items() for uid in ids}, name=LEVEL_COL
        ).rename_axis(C.UNIQUE_ID)

    def aggregate(self, panel: pd.DataFrame) -> pd.DataFrame:
        """Bottom ``panel`` plus every aggregate series (``y`` summed, price averaged, calendar
        covariates taken as they are)."""
        p = panel[panel[C.UNIQUE_ID].isin(set(self.bottom))]
        extra = set(panel[C.UNIQUE_ID].unique()) - set(self.bottom)
        if extra:
            raise ValueError(
                f"hierarchy: {len(extra)} panel series have no statics, e.g. {sorted(extra)[:3]}"
            )
        covs = [c for c in p.columns if c not in (C.UNIQUE_ID, C.DS, C.Y)]
        agg = {C.Y: "sum"}
        for c in covs:
            if pd.api.types.is_numeric_dtype(p[c]) or pd.api.types.is_bool_dtype(p[c]):
                agg[c] = "first" if c in FIRST_COVARIATES else "mean"
        parts = []
        for name, labels in self.of_bottom.items():
            key = pd.Series(labels, index=self.bottom).reindex(p[C.UNIQUE_ID]).to_numpy()
            g = p.assign(**{C.UNIQUE_ID: key}).groupby([C.UNIQUE_ID, C.DS], sort=True)
            # a period where no member has started yet stays missing, not zero
            out = g.agg(agg).reset_index()
            counted = g[C.Y].count().to_numpy()
            out.loc[counted == 0, C.Y] = np.nan
            parts.append(out)
            log.debug("hierarchy level %s: %d series", name, out[C.UNIQUE_ID].nunique())
        parts.append(p[[C.UNIQUE_ID, C.DS, C.Y, *agg.keys() - {C.Y}]])
        return pd.concat(parts, ignore_index=True)

    def statics(self, category: str | None = C.CATEGORY) -> pd.DataFrame:
        """Statics of every series: the level, and the category where the level has one."""
        rows = [self.static.assign(**{LEVEL_COL: BOTTOM})]
        for name, par in self.parents.items():
            rows.append(par.assign(**{LEVEL_COL: name}))
        out = pd.concat(rows, ignore_index=True)
        if category is not None:
            fill = "level:" + out[LEVEL_COL]
            out[category] = (
                out[category].astype(object).where(out[category].notna(), fill)
                if category in out
                else fill
            )
        return out

    def coherent_sums(self, bottom: np.ndarray) -> np.ndarray:
        """Every series' value from the bottom ones (rows in ``self.ids`` order)."""
        return np.asarray(self.S @ bottom)


def _reconcilers(
    methods: Sequence[str], nested: bool, large: bool = False, dense_residual: bool = True
) -> dict[str, object]:
    """hierarchicalforecast reconcilers by name; ``large``: the sparse variants only (the dense
    ones build a series x bottom matrix: 10 GB for the 42,840 x 30,490 M5 hierarchy).
    ``dense_residual``: the residual MinTraces dense all the same (a few thousand series: the
    dense one floors zero error variances, the sparse one refuses them)."""
    from hierarchicalforecast.methods import (
        BottomUp,
        BottomUpSparse,
        MinTrace,
        MinTraceSparse,
        TopDown,
        TopDownSparse,
    )

    make = {
        "bottom_up": (lambda: BottomUpSparse()) if large else (lambda: BottomUp()),
        # dense MinTrace below the limit: MinTraceSparse builds P column by column with an
        # iterative solver when intervals are asked for (minutes on 5,000 series)
        "min_trace_ols": (lambda: MinTraceSparse(method="ols"))
        if large
        else (lambda: MinTrace(method="ols")),
        "min_trace_wls_struct": (lambda: MinTraceSparse(method="wls_struct"))
        if large
        else (lambda: MinTrace(method="wls_struct")),
        "min_trace_wls_var": (lambda: MinTrace(method="wls_var"))
        if dense_residual
        else (lambda: MinTraceSparse(method="wls_var")),
        # the shrunk full covariance is a dense series x series matrix: not on large hierarchies
        "min_trace_mint_shrink": (lambda: MinTrace(method="mint_shrink")),
        "top_down_forecast_proportions": (
            (lambda: TopDownSparse(method="forecast_proportions"))
            if large
            else (lambda: TopDown(method="forecast_proportions"))
        ),
    }
    out = {}
    for m in methods:
        if m not in make:
            raise ValueError(f"hierarchical: unknown method {m!r}; known: {sorted(make)}")
        if m.startswith("top_down") and not nested:
            log.info("hierarchical: %s skipped, the levels are grouped, not nested", m)
            continue
        if m == "min_trace_mint_shrink" and not dense_residual:
            log.info("hierarchical: %s skipped, its covariance is dense (large hierarchy)", m)
            continue
        out[m] = make[m]()
    return out


LEVELS_Z = (50, 67, 95, 99)  # central intervals carrying the nine M5 quantiles


def _interval_of(q: float) -> tuple[int, str]:
    lo = min(q, 1 - q)
    lv = int(round((1 - 2 * lo) * 100))
    return lv, ("lo" if q < 0.5 else "hi")


class Hierarchical(_Composite):
    """Reconciled forecasts over ``levels`` of a base model (see the module docstring)."""

    name = "hierarchical"
    uses_static = True

    def __init__(
        self,
        base: Mapping[str, Callable[[], Forecaster]],
        levels: Sequence[Sequence[str]] = ((), ("category",)),
        methods: Sequence[str] = METHODS,
        intervals: Sequence[str] = INTERVALS,
        validation: int = 28,
        max_normality_series: int = 1000,
        bottom_significance: float | None = 0.05,
        freq: str = "D",
        quantiles: Sequence[float] | None = None,
    ):
        if len(base) != 1:
            raise ValueError("hierarchical: name exactly one base model")
        ((self.base_name, self.make),) = base.items()
        probe = self.make()
        super().__init__(probe.quantiles if quantiles is None else quantiles, freq)
        bad = [q for q in self.quantiles if q != 0.5 and _interval_of(q)[0] not in range(1, 100)]
        if bad:
            raise ValueError(f"hierarchical: quantiles {bad} have no central interval")
        self.uses_future_covariates = probe.uses_future_covariates
        self.levels = [list(lv) for lv in levels]
        self.methods = tuple(methods)
        self.intervals = tuple(intervals)
        for i in self.intervals:
            if i not in INTERVALS:
                raise ValueError(f"hierarchical: unknown intervals {i!r}; known: {INTERVALS}")
        self.validation = int(validation)
        # probabilistic reconciliation holds dense (series x series) matrices — 80 s per
        # reconciliation at 5,000 series on 2 cores, ~15 GB at the 42,840 of M5 — so above this
        # many series only the `base` style (and the sparse reconcilers) are used
        self.max_normality_series = int(max_normality_series)
        # a reconciler significantly worse than the base model at the bottom is not chosen
        # (paired bootstrap at this level on the validation window; None: no such rule)
        self.bottom_significance = bottom_significance
        self.rejected_: dict[str, str] = {}
        self.errors_: pd.DataFrame | None = None  # validation errors: W at predict time
        self.prior_errors_: pd.DataFrame | None = None  # the window before: W while choosing
        self.models_: dict[str, Forecaster] = {}
        self.method_: str = "bottom_up"
        self.interval_: str = self.intervals[0]
        self.scores_: dict[str, float] = {}

    def __getstate__(self):  # the factory is for fitting only (it may be a closure)
        return {k: v for k, v in self.__dict__.items() if k != "make"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.make = None

    def _large(self) -> bool:
        return len(self.hierarchy_.ids) > self.max_normality_series

    def _make_reconcilers(self, methods: Sequence[str]) -> dict[str, object]:
        return _reconcilers(
            methods,
            self.hierarchy_.nested,
            self._large(),
            dense_residual=len(self.hierarchy_.ids) <= DENSE_RESIDUAL_MAX,
        )

    # --- fit ----------------------------------------------------------------------------------
    def fit(self, panel: pd.DataFrame, static_df: pd.DataFrame | None = None) -> Hierarchical:
        if static_df is None:
            raise ValueError("hierarchical: needs the statics (they define the levels)")
        ids = set(panel[C.UNIQUE_ID].unique())  # the statics may list more series than this fit
        self.hierarchy_ = Hierarchy(static_df[static_df[C.UNIQUE_ID].isin(ids)], self.levels)
        full = self.hierarchy_.aggregate(panel)
        statics = self.hierarchy_.statics()
        self.ids_ = self.hierarchy_.bottom
        self.last_ds_ = panel[C.DS].max()
        self._choose(full, statics)
        model = self.make()
        model.fit(full, statics)
        self.models_ = {"base": model}
        return self

    def _choose(self, full: pd.DataFrame, statics: pd.DataFrame) -> None:
        reconcilers = self._make_reconcilers(self.methods)
        offset = pd.tseries.frequencies.to_offset(FREQ_OFFSETS[self.freq])
        cut = full[C.DS].max() - offset * self.validation
        train, window = full[full[C.DS] <= cut], full[full[C.DS] > cut]
        self.errors_ = None
        if train[C.DS].nunique() < 2 * self.validation:
            # too little history for a validation window: no errors to weigh by, nothing to choose on
            kept = [m for m in reconcilers if m not in RESIDUAL_METHODS] or ["bottom_up"]
            self.method_ = kept[0]
            log.info("hierarchical: history too short to validate, %s", self.method_)
            return
        if len(reconcilers) == 1 and next(iter(reconcilers)) not in RESIDUAL_METHODS:
            self.method_ = next(iter(reconcilers))
            return
        # the base model's out-of-sample errors at every level: the W of the residual MinTraces
        base, self.errors_ = self._held_out(train, window, statics)
        if len(reconcilers) == 1:
            self.method_ = next(iter(reconcilers))
            return
        self.prior_errors_ = None
        if any(m in RESIDUAL_METHODS for m in reconcilers):
            before = cut - offset * self.validation
            if train[C.DS].nunique() >= 3 * self.validation:
                early, prior = train[train[C.DS] <= before], train[train[C.DS] > before]
                _, self.prior_errors_ = self._held_out(early, prior, statics)
            else:  # no earlier window to weigh them by: not candidates
                reconcilers = {k: v for k, v in reconcilers.items() if k not in RESIDUAL_METHODS}
        levels = self.hierarchy_.level_of()
        # each level's actuals and history, cut once for every method x interval style
        by_level = {
            lv: (window[window[C.UNIQUE_ID].isin(ids)], train[train[C.UNIQUE_ID].isin(ids)])
            for lv, ids in levels.groupby(levels, sort=False).groups.items()
        }
        scores, bottom_rmsse = {}, {}
        for method in reconcilers:
            # a residual MinTrace is weighed by the errors of the window *before* validation
            # (the window that scores it must not also weigh it: one regime's errors correlate)
            errors = self.prior_errors_ if method in RESIDUAL_METHODS else None
            fc = self._reconcile(base, reconcilers[method], errors)
            for iv in [i for i in self.intervals if i in fc]:
                per_level = []
                for lv, g in fc[iv].groupby(fc[iv][C.UNIQUE_ID].map(levels), sort=False):
                    per_series, overall = evaluate(g, *by_level[lv])
                    per_level.append((overall["wrmsse"], overall["wspl"]))
                    if lv == BOTTOM:
                        bottom_rmsse[method] = per_series.set_index(C.UNIQUE_ID)["rmsse"]
                wrmsse, wspl = np.mean(per_level, axis=0)
                scores[f"{method}/{iv}"] = {"wrmsse": float(wrmsse), "wspl": float(wspl)}
                log.info(
                    "hierarchical validation %s/%s: wrmsse %.4f wspl %.4f", method, iv, wrmsse, wspl
                )
        self.scores_ = scores
        self.rejected_ = self._bottom_guard(bottom_rmsse)
        eligible = {k: v for k, v in scores.items() if k.split("/")[0] not in self.rejected_}
        # the means decide the method (every interval style of a method has the same means)
        self.method_ = min(eligible, key=lambda k: eligible[k]["wrmsse"]).split("/")[0]
        self.interval_ = min(
            (k for k in scores if k.startswith(f"{self.method_}/")),
            key=lambda k: scores[k]["wspl"],
        ).split("/")[1]
        log.info(
            "hierarchical: %s with %s quantiles, chosen on validation", self.method_, self.interval_
        )

    def _bottom_guard(self, bottom_rmsse: Mapping[str, pd.Series]) -> dict[str, str]:
        """Methods whose SKU forecasts are significantly worse than the base model's own (paired
        bootstrap of per-series RMSSE against bottom-up on the validation window): a planner
        buys per SKU, so a reconciler may not buy aggregate accuracy with the SKUs'."""
        from src.tracking.bootstrap import paired_bootstrap

        if self.bottom_significance is None or "bottom_up" not in bottom_rmsse:
            return {}
        ref, out = bottom_rmsse["bottom_up"], {}
        for method, rmsse in bottom_rmsse.items():
            if method == "bottom_up":
                continue
            comp = paired_bootstrap(ref, rmsse, False, self.bottom_significance)
            if comp.verdict == "challenger worse":
                out[method] = (
                    f"bottom RMSSE {comp.delta:+.4f} [{comp.ci_low:+.4f}, {comp.ci_high:+.4f}] "
                    "vs bottom_up"
                )
                log.info("hierarchical: %s rejected, %s", method, out[method])
        return out

    def _held_out(
        self, fit: pd.DataFrame, window: pd.DataFrame, statics: pd.DataFrame
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The base model fitted on ``fit`` forecasts ``window``: its forecasts and their errors."""
        model = self.make().fit(fit, statics)
        future = window.drop(columns=[C.Y])
        base = model.predict(self.validation, future if model.uses_future_covariates else None)
        return base, _errors(base, window, self.hierarchy_.ids)

    # --- reconcile ----------------------------------------------------------------------------
    def _reconcile(
        self, base: pd.DataFrame, reconciler, errors: pd.DataFrame | None = None
    ) -> dict[str, pd.DataFrame]:
        """Reconciled forecasts of every series, per interval style, in the forecast layout;
        ``errors`` (actual and base forecast per series and period) weigh a residual MinTrace."""
        from hierarchicalforecast.core import HierarchicalReconciliation

        h = self.hierarchy_
        name = "base"
        qcols = [quantile_column(q) for q in self.quantiles]
        base = _complete(base, h.ids)
        yhat = base[[C.UNIQUE_ID, C.DS, Y_HAT]].rename(columns={Y_HAT: name})
        for lv in LEVELS_Z:
            lo, hi = (
                quantile_column(round((1 - lv / 100) / 2, 4)),
                quantile_column(round(1 - (1 - lv / 100) / 2, 4)),
            )
            if lo in base and hi in base:
                yhat[f"{name}-lo-{lv}"] = base[lo].to_numpy()
                yhat[f"{name}-hi-{lv}"] = base[hi].to_numpy()
        # hierarchicalforecast's TopDown needs in-sample fits for intervals: means only there
        probabilistic = (
            "normality" in self.intervals
            and not type(reconciler).__name__.startswith("TopDown")
            and not self._large()
        )
        have = sorted(int(c.rsplit("-", 1)[1]) for c in yhat.columns if "-hi-" in c)
        if not probabilistic:
            yhat = yhat[[C.UNIQUE_ID, C.DS, name]]
            have = []
        insample = None
        if getattr(reconciler, "insample", False):
            if errors is None:
                errors = self.errors_
            if errors is None:
                raise ValueError("hierarchical: a residual MinTrace needs validation errors")
            insample = errors.rename(columns={Y_HAT: name})[[C.UNIQUE_ID, C.DS, C.Y, name]]
        rec = HierarchicalReconciliation([reconciler]).reconcile(
            Y_hat_df=yhat,
            Y_df=insample,
            tags=h.tags,
            S_df=h.smatrix(),
            level=have or None,
            intervals_method="normality",
        )
        col = next(
            c
            for c in rec.columns
            if c.startswith(f"{name}/") and "-lo-" not in c and "-hi-" not in c
        )
        rec = rec.set_index([C.UNIQUE_ID, C.DS])
        indexed = base.set_index([C.UNIQUE_ID, C.DS])
        dates = sorted(base[C.DS].unique())

        def grid(frame: pd.DataFrame, column: str, rows=h.ids) -> np.ndarray:
            return frame[column].unstack(C.DS).reindex(index=rows, columns=dates).to_numpy()

        # non-negative and exactly coherent: clip the bottom, sum it up
        bottom = np.clip(np.nan_to_num(grid(rec, col, h.bottom)), 0, None)
        mean = h.coherent_sums(bottom)  # (series, h) in h.ids order
        frame = pd.DataFrame(
            {
                C.UNIQUE_ID: np.repeat(h.ids, len(dates)),
                C.DS: np.tile(dates, len(h.ids)),
                MODEL_COL: self.name,
                Y_HAT: mean.ravel(),
            }
        )
        out = {}
        if probabilistic:  # the reconciled Gaussian's quantiles, centred on the clipped mean
            raw = grid(rec, col)
            qn = np.empty((len(h.ids), len(dates), len(self.quantiles)))
            for i, q in enumerate(self.quantiles):
                if q == 0.5:
                    qn[:, :, i] = mean
                    continue
                lv, side = _interval_of(q)
                c = f"{col}-{side}-{lv}"
                if c in rec:
                    qn[:, :, i] = mean + (grid(rec, c) - raw)
                elif have:  # no such interval from the base model: a Gaussian from the widest
                    w = max(have)
                    sigma = (grid(rec, f"{col}-hi-{w}") - raw) / stats.norm.ppf(0.5 + w / 200)
                    qn[:, :, i] = mean + stats.norm.ppf(q) * sigma
                else:
                    qn[:, :, i] = mean
            out["normality"] = _with_quantiles(frame, qn, qcols)
        # base: each series' own distribution, scaled to its reconciled mean
        if all(c in base for c in qcols):
            base_mean = grid(indexed, Y_HAT)
            qb = np.stack([grid(indexed, c) for c in qcols], axis=2)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(base_mean > 1e-9, mean / base_mean, 1.0)
            qb = qb * ratio[:, :, None]
            qb[mean <= 1e-9] = 0.0
            out["base"] = _with_quantiles(frame, qb, qcols)
        elif probabilistic:
            out["base"] = out["normality"]
        else:
            out["base"] = _with_quantiles(frame, np.repeat(mean[:, :, None], len(qcols), 2), qcols)
        return out

    # --- predict ------------------------------------------------------------------------------
    def predict_levels(self, h: int, future_covariates: pd.DataFrame | None = None) -> pd.DataFrame:
        """Reconciled forecasts of every series of every level (bottom included), with a
        ``hierarchy_level`` column: a category plan and its SKUs add up."""
        if not self.models_:
            raise RuntimeError(f"{self.name}: call fit() before predict()")
        model = self.models_["base"]
        future = None
        if model.uses_future_covariates and future_covariates is not None:
            fut = future_covariates.assign(**{C.Y: 0.0})
            future = self.hierarchy_.aggregate(fut).drop(columns=[C.Y])
        base = model.predict(h, future)
        reconciler = self._make_reconcilers([self.method_])[self.method_]
        styles = self._reconcile(base, reconciler)
        fc = styles.get(self.interval_, styles["base"])
        return fc.assign(**{LEVEL_COL: fc[C.UNIQUE_ID].map(self.hierarchy_.level_of())})

    def predict(self, h: int, future_covariates: pd.DataFrame | None = None) -> pd.DataFrame:
        return self.bottom(self.predict_levels(h, future_covariates))

    @staticmethod
    def bottom(levels: pd.DataFrame) -> pd.DataFrame:
        """The bottom series of :meth:`predict_levels` in the standard forecast layout."""
        out = levels[levels[LEVEL_COL] == BOTTOM].drop(columns=[LEVEL_COL])
        return out.sort_values([C.UNIQUE_ID, C.DS], kind="stable").reset_index(drop=True)


def _errors(base: pd.DataFrame, actual: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    """Base forecasts beside the actuals of their window (every series x period)."""
    out = _complete(base, ids)[[C.UNIQUE_ID, C.DS, Y_HAT]].merge(
        actual[[C.UNIQUE_ID, C.DS, C.Y]], on=[C.UNIQUE_ID, C.DS], how="left"
    )
    out[C.Y] = out[C.Y].fillna(0.0)
    return out


def _complete(base: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    """Every series x date of the forecast window: a series the base model could not forecast
    (no history before the cutoff, e.g. launched inside the validation window) gets 0."""
    dates = sorted(base[C.DS].unique())
    grid = pd.MultiIndex.from_product([ids, dates], names=[C.UNIQUE_ID, C.DS])
    values = [c for c in base.columns if c not in (C.UNIQUE_ID, C.DS, MODEL_COL)]
    out = base.drop_duplicates([C.UNIQUE_ID, C.DS]).set_index([C.UNIQUE_ID, C.DS])[values]
    if len(out) == len(grid):
        return base
    return out.reindex(grid).fillna(0.0).reset_index()


def _with_quantiles(frame: pd.DataFrame, q: np.ndarray, qcols: list[str]) -> pd.DataFrame:
    q = np.clip(np.nan_to_num(q), 0, None)
    q = np.maximum.accumulate(q, axis=2)
    out = frame.copy()
    for i, c in enumerate(qcols):
        out[c] = q[:, :, i].ravel()
    return out
