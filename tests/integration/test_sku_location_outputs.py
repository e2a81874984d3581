"""A ``sku_location`` granularity end to end through the monitor and the console: the series ids
the panels write (``SKU@location``, src/outputs/ids.py) are the ids the monitor's actuals and the
console's history are keyed by — the hand-off that ``|`` in three readers had broken."""

from __future__ import annotations

import pandas as pd
import pytest
from omegaconf import OmegaConf

from pipelines import monitor
from src import outputs
from src.features import columns as C
from src.monitor.pipeline import data_kpis, read_kpis
from src.outputs import ids
from tests.helpers import compose, train_tiny_stack

pytestmark = pytest.mark.integration
GRAN = [
    "granularity=sku_location_daily",
    "granularity.horizon=21",  # the plan needs lead time + review + 3 sd
    "granularity.backtest_windows=1",
    "granularity.top_n=30",
]
REGISTERED = "forecast_sku_location_D"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sku_location")
    paths = train_tiny_stack(
        tmp, "[seasonal_naive]", "[popularity]", GRAN, ["policy.simulation.enabled=false"]
    )
    return tmp, paths


def _paths(paths: list[str]) -> dict:
    return OmegaConf.to_container(compose("monitor", [*paths, *GRAN]).paths, resolve=True)


def test_forecast_ids_are_the_panel_encoding(stack):
    _, paths = stack
    fc = outputs.read(_paths(paths), "forecast", registered=REGISTERED)
    sku, loc = ids.split_series_id(fc[C.UNIQUE_ID], 2)
    assert fc[C.UNIQUE_ID].str.contains(ids.SEPARATOR, regex=False).all()
    assert loc.notna().all() and (sku.str.len() > 0).all()


def test_monitor_scores_an_archived_sku_location_forecast_against_its_actuals(stack):
    """A forecast archived a week ago that was exactly right scores WAPE 0 on its days: its ids
    met the actuals. Were they keyed differently, nothing would meet, and the champion's
    backtest window (WAPE > 0) would stand in."""
    _, paths = stack
    p = _paths(paths)
    config = OmegaConf.to_container(compose("monitor", [*paths, *GRAN]), resolve=True)
    lines = data_kpis(config)[0]  # the monitor's own sale/return lines: what it scores against
    last = lines["day"].max()
    week = lines[(lines["day"] > last - pd.Timedelta(days=7)) & (lines[C.QTY] != 0)]
    exact = (
        week.groupby([C.SKU, C.LOCATION_ID, "day"], observed=True)[C.QTY]
        .sum()
        .rename("y_hat")
        .reset_index()
        .rename(columns={"day": C.DS})
    )
    # the documented encoding, spelled out: SKU@location
    exact[C.UNIQUE_ID] = [f"{s}@{loc}" for s, loc in zip(exact[C.SKU], exact[C.LOCATION_ID],
                                                          strict=True)]  # fmt: skip
    exact = exact.assign(**{"q0.025": exact["y_hat"], "q0.975": exact["y_hat"]})
    archived = exact[[C.UNIQUE_ID, C.DS, "y_hat", "q0.025", "q0.975"]]
    outputs.write(p, "forecast_archive", archived, registered=REGISTERED, origin="20000101")
    monitor.run(compose("monitor", [*paths, *GRAN, "monitor.rules=[]"]))
    kpis = read_kpis(p)
    wape = kpis[(kpis["kpi"] == "forecast_wape") & (kpis["grain"] == "day")
                & (kpis["dimension"] == "total")]  # fmt: skip
    days = wape[wape["period"] > last - pd.Timedelta(days=7)]
    assert len(days) == 7, wape
    assert (days["value"] == 0).all(), days
    # and by category: the SKU of a sku_location id finds its product
    by_cat = kpis[(kpis["kpi"] == "forecast_wape") & (kpis["dimension"] == "category")]
    assert len(by_cat) and "unknown" not in set(by_cat["member"])


def test_console_history_and_forecast_meet_on_sku_location_ids(stack):
    from src.console.data import ConsoleData

    _, paths = stack
    config = OmegaConf.to_container(compose("console", [*paths, *GRAN]), resolve=True)
    data = ConsoleData(config)
    fc = outputs.read(config["paths"], "forecast", registered=REGISTERED)
    uids = fc[C.UNIQUE_ID].unique()
    found = [u for u in uids if data.history(u) is not None]
    assert len(found) >= 0.8 * len(uids), (len(found), len(uids))
    sku = ids.first_key(pd.Series(uids)).iloc[0]
    assert data.forecast(sku) is not None
