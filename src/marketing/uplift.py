"""Whom to target next: uplift models (causalml) against the response-model peer, by Qini.

A response model ranks customers by how likely they are to buy; an uplift model ranks them by how
much *more* likely the campaign makes them buy — the customers worth paying to contact. Both are
trained on a randomised campaign's members (features as of the send, treatment, conversion) and
scored by the Qini coefficient (causalml ``qini_score``: the area between the model's Qini curve
and random targeting, normalised) on a held-out split. The uplift learner is chosen by Qini on
cross-validation folds of the training members only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from src.features import columns as C

log = logging.getLogger(__name__)

RESPONSE = "response_model"  # the peer: P(purchase | treated)
LEARNERS = ("t_learner", "x_learner", "s_learner", "uplift_forest")


# --- features as of a date --------------------------------------------------------------------


def features(
    lines: pd.DataFrame,
    events: pd.DataFrame | None,
    customers: pd.Index,
    as_of: pd.Timestamp,
    channels: Sequence[str],
) -> pd.DataFrame:
    """What is known about each customer the day before ``as_of`` (no look-ahead): recency,
    order counts and revenue over 30/90/365 days, tenure, channel mix, recent browsing."""
    as_of = pd.Timestamp(as_of).normalize()
    past = lines[(lines["day"] < as_of) & lines[C.CUSTOMER_ID].isin(customers)]
    sales = past[past[C.LINE_TYPE] == C.LINE_SALE]
    out = pd.DataFrame(index=customers)
    last = sales.groupby(C.CUSTOMER_ID)["day"].max().reindex(customers)
    out["never_bought"] = last.isna().astype(float)
    out["recency_days"] = ((as_of - last).dt.days).fillna(3650).clip(upper=3650).astype(float)
    for days in (30, 90, 365):
        recent = sales[sales["day"] >= as_of - pd.Timedelta(days=days)]
        out[f"orders_{days}"] = recent.groupby(C.CUSTOMER_ID)[C.ORDER_ID].nunique()
        rev = past[past["day"] >= as_of - pd.Timedelta(days=days)]
        out[f"revenue_{days}"] = rev.groupby(C.CUSTOMER_ID)["revenue"].sum()
    year = sales[sales["day"] >= as_of - pd.Timedelta(days=365)]
    orders = year.drop_duplicates(C.ORDER_ID)
    mix = orders.groupby([C.CUSTOMER_ID, C.CHANNEL], observed=True).size().unstack(fill_value=0)
    total = mix.sum(axis=1).replace(0, np.nan)
    for ch in channels:
        out[f"share_{ch}"] = (mix[ch] / total) if ch in mix else 0.0
    first = past.groupby(C.CUSTOMER_ID)["day"].min()
    if events is not None and len(events):
        ev = events[(events[C.TS] < as_of) & events[C.CUSTOMER_ID].isin(customers)]
        first = (
            pd.concat([first, ev.groupby(C.CUSTOMER_ID)[C.TS].min().dt.normalize()])
            .groupby(level=0)
            .min()
        )
        for name, kind, days in (("views_30", C.EVENT_VIEW, 30), ("carts_30", C.EVENT_CART, 30),
                                 ("wishlists_90", C.EVENT_WISHLIST, 90),
                                 ("exposures_90", C.EVENT_EXPOSURE, 90)):  # fmt: skip
            recent = ev[(ev[C.EVENT] == kind) & (ev[C.TS] >= as_of - pd.Timedelta(days=days))]
            out[name] = recent.groupby(C.CUSTOMER_ID).size()
    out["tenure_days"] = (as_of - first.reindex(customers)).dt.days
    return out.fillna(0.0).astype(float)


# --- learners ---------------------------------------------------------------------------------


def _lgbm(kind: str, seed: int, params: Mapping):
    from lightgbm import LGBMClassifier, LGBMRegressor

    cls = LGBMClassifier if kind == "classifier" else LGBMRegressor
    return cls(random_state=seed, verbose=-1, n_jobs=1, **dict(params))


def make_learner(name: str, seed: int, params: Mapping):
    """A causalml uplift learner by name (base learners: LightGBM with ``params``)."""
    from causalml.inference.meta import BaseSClassifier, BaseTClassifier, BaseXClassifier
    from causalml.inference.tree import UpliftRandomForestClassifier

    if name == "t_learner":
        return BaseTClassifier(learner=_lgbm("classifier", seed, params))
    if name == "s_learner":
        return BaseSClassifier(learner=_lgbm("classifier", seed, params))
    if name == "x_learner":
        return BaseXClassifier(outcome_learner=_lgbm("classifier", seed, params),
                               effect_learner=_lgbm("regressor", seed, params))  # fmt: skip
    if name == "uplift_forest":
        return UpliftRandomForestClassifier(
            control_name="0", n_estimators=50, max_depth=4, min_samples_leaf=50,
            evaluationFunction="KL", random_state=seed, n_jobs=1,
        )  # fmt: skip
    raise ValueError(f"unknown uplift learner {name!r}; choose from {list(LEARNERS)}")


def fit_predict(
    name: str, x: np.ndarray, w: np.ndarray, y: np.ndarray, x_new: np.ndarray, seed: int,
    params: Mapping,
) -> np.ndarray:  # fmt: skip
    """Fit ``name`` on (x, w, y) and return the predicted uplift (or purchase probability for the
    response peer) of ``x_new``."""
    if name == RESPONSE:
        model = _lgbm("classifier", seed, params).fit(x[w == 1], y[w == 1])
        return model.predict_proba(x_new)[:, 1]
    learner = make_learner(name, seed, params)
    if name == "uplift_forest":
        learner.fit(x, treatment=w.astype(str), y=y)
        return np.asarray(learner.predict(x_new)).reshape(len(x_new), -1)[:, -1]
    p = np.full(len(x), w.mean())  # randomised: the propensity is the treated share
    if name == "x_learner":
        learner.fit(x, treatment=w, y=y, p=p)
        return np.asarray(learner.predict(x_new, p=np.full(len(x_new), w.mean()))).ravel()
    learner.fit(x, treatment=w, y=y)
    return np.asarray(learner.predict(x_new)).ravel()


def qini(y: np.ndarray, w: np.ndarray, scores: Mapping[str, np.ndarray]) -> pd.Series:
    """Normalised Qini coefficient of each score column (0 = random targeting)."""
    from causalml.metrics import qini_score

    df = pd.DataFrame({"y": y, "w": w, **{k: np.asarray(v) for k, v in scores.items()}})
    return qini_score(df, outcome_col="y", treatment_col="w", normalize=True)


def true_qini(tau: np.ndarray, w: np.ndarray, scores: Mapping[str, np.ndarray]) -> pd.Series:
    """Qini of each score against known individual uplifts ``tau`` (synthetic data only): how
    well the ranking orders customers by their true effect, free of outcome noise."""
    from causalml.metrics import qini_score

    df = pd.DataFrame(
        {"tau": tau, "w": w, "y": 0.0, **{k: np.asarray(v) for k, v in scores.items()}}
    )
    return qini_score(df, outcome_col="y", treatment_col="w", treatment_effect_col="tau")


def qini_curves(y: np.ndarray, w: np.ndarray, scores: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Qini curves (cumulative incremental conversions by share targeted) for the console."""
    from causalml.metrics import get_qini

    df = pd.DataFrame({"y": y, "w": w, **{k: np.asarray(v) for k, v in scores.items()}})
    curves = get_qini(df, outcome_col="y", treatment_col="w", normalize=False)
    step = max(len(curves) // 200, 1)  # 200 points are enough to draw
    curves = curves.iloc[::step]
    curves.index = curves.index / max(len(df), 1)
    return curves.rename_axis("share_targeted").reset_index()


def uplift_study(
    x: pd.DataFrame,
    w: np.ndarray,
    y: np.ndarray,
    learners: Sequence[str] = LEARNERS,
    *,
    seed: int = 0,
    test_share: float = 0.3,
    folds: int = 3,
    params: Mapping | None = None,
) -> dict:
    """Choose an uplift learner by cross-validated Qini on the training split; report every
    learner's and the response peer's Qini on the held-out split.

    Returns ``{"chosen", "validation" (learner -> mean CV Qini), "test" (model -> Qini),
    "curves" (test Qini curves), "n_train", "n_test", "test_index", "test_scores"}``."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    params = dict(params or {})
    xv, w, y = x.to_numpy(float), np.asarray(w, int), np.asarray(y, float)
    strata = w * 2 + (y > 0)
    idx_train, idx_test = train_test_split(np.arange(len(w)), test_size=test_share,
                                           random_state=seed, stratify=strata)  # fmt: skip
    validation = {}
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for name in learners:
        scores = []
        for fit_i, val_i in cv.split(idx_train, strata[idx_train]):
            a, b = idx_train[fit_i], idx_train[val_i]
            pred = fit_predict(name, xv[a], w[a], y[a], xv[b], seed, params)
            scores.append(float(qini(y[b], w[b], {name: pred})[name]))
        validation[name] = float(np.mean(scores))
    chosen = max(validation, key=validation.get)
    a, b = idx_train, idx_test
    preds = {name: fit_predict(name, xv[a], w[a], y[a], xv[b], seed, params)
             for name in [*learners, RESPONSE]}  # fmt: skip
    test = qini(y[b], w[b], preds)
    return {
        "chosen": chosen,
        "validation": validation,
        "test": {k: float(v) for k, v in test.items()},
        "curves": qini_curves(y[b], w[b], {k: preds[k] for k in (chosen, RESPONSE)}),
        "n_train": len(a),
        "n_test": len(b),
        "test_index": x.index[b],  # the held-out members and every model's score of them
        "test_scores": preds,
    }


def qini_plot(curves: pd.DataFrame, title: str):
    """Qini curves of the chosen uplift model and the response peer against random targeting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for col in curves.columns:
        if col in ("share_targeted", C.CAMPAIGN_ID):
            continue
        label = "random" if col == "Random" else col
        ax.plot(curves["share_targeted"], curves[col], label=label,
                linestyle="--" if col == "Random" else "-")  # fmt: skip
    ax.set_xlabel("share of customers targeted (best first)")
    ax.set_ylabel("incremental conversions (held-out split)")
    ax.set_title(f"Qini: {title}")
    ax.legend()
    fig.tight_layout()
    return fig
