"""The console in rooms: each page registers its own callbacks on a Dash app of its own, and
``create_app`` composes them with the server routes."""

from __future__ import annotations

import dash
import pytest
from omegaconf import OmegaConf

from src.console import app as console
from src.console.data import ConsoleData
from src.console.pages import alerts, overview, planning
from tests.helpers import compose, tmp_paths

ROOMS = {
    overview: {"ov-member", "ov-tiles", "ov-breakdown"},
    alerts: {"al-table", "al-result"},
    planning: {"pl-table", "pl-count", "pl-export", "pl-transfers", "pl-fan"},
}


def _outputs(app: dash.Dash) -> set[str]:
    ids = set()
    for key in app.callback_map:
        for part in key.strip(".").split("..."):
            ids.add(part.split(".")[0])
    return ids


@pytest.fixture
def data(tmp_path):
    config = OmegaConf.to_container(compose("console", tmp_paths(tmp_path)), resolve=True)
    return ConsoleData(config), config


def test_each_room_registers_only_its_own_callbacks(data):
    for module, ids in ROOMS.items():
        app = dash.Dash(__name__)
        module.register(app, data[0])
        assert _outputs(app) == ids, module.__name__


def test_create_app_composes_every_room_and_the_server_routes(data):
    app = console.create_app(data[1], users={})
    outs = _outputs(app)
    assert set().union(*ROOMS.values()) | {"nav", "page"} == outs
    rules = {r.rule for r in app.server.url_map.iter_rules()}
    assert {"/login", "/logout", "/healthz", "/export/plan.csv"} <= rules
    client = app.server.test_client()
    assert client.get("/export/plan.csv").status_code == 401  # the guard came with the routes
    assert client.get("/healthz").status_code == 200
