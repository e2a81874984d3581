"""The generator with taste: personal models must win on it, and must not on the generator
without taste (both directions), with the taste truth behind it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.features import columns as C
from src.features.adapters.synthetic import TASTE, generate, person_purchases
from src.recsys.evaluation import holdout
from src.recsys.hybrid import Hybrid
from src.recsys.metrics import recall_at_k
from src.recsys.models import EASE, BuyAgain, Popularity
from src.recsys.repeat import TIFUKNN

SIZE = {"n_people": 900, "n_skus": 400, "days": 240, "orders_per_day": 30.0}


def recalls(taste) -> dict[str, float]:
    data = generate(
        seed=3, taste=taste, events=False, campaigns=None, stock_history_weeks=0, **SIZE
    )
    ev = person_purchases(data)
    end = ev[C.TS].max() + pd.Timedelta(days=1)
    h = holdout(ev, end - pd.Timedelta(days=28), end)
    customers = sorted(h.truth_all[C.CUSTOMER_ID].unique())
    models = {
        "popularity": Popularity(),
        "hybrid": Hybrid(
            {"buy_again": BuyAgain, "tifu_knn": TIFUKNN, "ease": EASE, "popularity": Popularity},
            num_boost_round=100,
        ),  # fmt: skip
    }
    return {n: recall_at_k(m.fit(h.train).recommend(customers, 20), h.truth_all, 20)
            for n, m in models.items()}  # fmt: skip


@pytest.fixture(scope="module")
def with_taste():
    return recalls({})


@pytest.fixture(scope="module")
def without_taste():
    return recalls(None)


def test_with_taste_the_hybrid_beats_popularity_by_a_clear_margin(with_taste):
    assert with_taste["hybrid"] >= 2.0 * with_taste["popularity"], with_taste


def test_without_taste_popularity_is_not_beaten(without_taste):
    # every line is drawn from global popularity: nothing personal to learn
    assert without_taste["hybrid"] <= 1.05 * without_taste["popularity"], without_taste


def test_taste_truth_staples_are_rebought_and_complements_go_together():
    data = generate(seed=5, taste={"complement": 0.5}, events=False, campaigns=None,
                    stock_history_weeks=0, **SIZE)  # fmt: skip
    truth = data.taste_truth
    ev = person_purchases(data)
    person = ev[C.CUSTOMER_ID].str[1:].astype(int)
    staple = np.array(
        [s in set(truth["staples"][p]) for p, s in zip(person, ev[C.SKU], strict=True)]
    )
    # a staple is bought on many more days per buyer than a free pick
    days = ev.assign(staple=staple).groupby([C.CUSTOMER_ID, C.SKU, "staple"]).size()
    per = days.groupby(level="staple").mean()
    assert per[True] > 2 * per[False]
    # complements: a partner pair shares a basket far more often than chance
    sales = pd.concat(data.raw.values())
    sales = sales[sales[C.QTY] > 0]
    basket = sales.groupby(C.ORDER_ID)[C.SKU].apply(set)
    partner = dict(
        zip([f"SKU{i:04d}" for i in range(len(truth["partner"]))], truth["partner"], strict=True)
    )
    with_partner = np.mean(
        [any(partner[s] in b for s in b if partner[s] != s) for b in basket if len(b) > 1]
    )
    assert with_partner > 0.3


def test_new_items_are_not_sold_before_their_launch():
    data = generate(seed=5, taste={"new_items": 0.3}, events=False, campaigns=None,
                    stock_history_weeks=0, **SIZE)  # fmt: skip
    launch = data.taste_truth["launch"]
    sales = pd.concat(data.raw.values())
    sales = sales[sales[C.QTY] > 0]
    day = (sales[C.TS].dt.normalize() - pd.Timestamp("2023-01-01")).dt.days.to_numpy()
    assert (day >= launch[sales[C.SKU].str[3:].astype(int).to_numpy()]).all()
    assert (launch > 0).sum() > 0.2 * len(launch)


def test_unknown_taste_parameters_are_refused():
    with pytest.raises(ValueError, match="unknown parameters.*flavour"):
        generate(taste={"flavour": 1.0}, events=False, campaigns=None)
    assert set(TASTE) >= {"segments", "staples", "cycle_days", "complement", "new_items"}
