"""Every entry config composes, and every object it names can be built (no data, no training)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from src.features.sets import from_config, open_store
from src.forecast.partitioned import Partitioned
from src.forecast.pipeline import model_factories
from src.tracking.candidates import factories
from src.tracking.tasks import task_specs
from tests.helpers import REPO, compose

ENTRY_CONFIGS = sorted(p.stem for p in (REPO / "conf").glob("*.yaml"))
DATA = sorted(p.stem for p in (REPO / "conf" / "data").glob("*.yaml"))


def test_the_entry_configs_are_the_pipelines():
    """One entry config per pipeline module with a ``main`` (through the task wrapper), and the
    other way round; a pipeline's config is its own name (serve shares build_services')."""
    import re

    named = {}
    for p in (REPO / "pipelines").glob("*.py"):
        m = re.search(r'^run, main = entry_point\("(\w+)"', p.read_text(), re.M)
        if m:
            named[p.stem] = m.group(1)
    assert {s: c for s, c in named.items() if s != "serve"} == {c: c for c in ENTRY_CONFIGS}
    assert named["serve"] == "build_services"


@pytest.mark.parametrize("name", ENTRY_CONFIGS)
def test_entry_config_composes_and_resolves(name, tmp_path):
    cfg = compose(name, [f"paths.root={tmp_path}"])
    resolved = OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    assert resolved["paths"]["root"] == str(tmp_path)
    if "features" in resolved:
        store = open_store(resolved["features"], cfg.paths.features, cfg.paths.tables)
        assert store.partitions >= 1
        specs = from_config(resolved["features"])
        assert len({s.name for s in specs}) == len(specs)  # feature set names are unique
    if "tasks" in resolved:
        for name_, spec in task_specs(resolved["tasks"]).items():
            assert spec.name == name_
            for model in spec.spaces:
                assert callable(spec.space(model))  # every search space resolves


@pytest.mark.parametrize("data", DATA)
def test_every_data_source_names_its_adapter(data):
    cfg = compose("ingest", [f"data={data}"])
    loader = instantiate(cfg.data, _partial_=True)
    assert isinstance(loader, partial) and loader.func.__module__.startswith(
        "src.features.adapters."
    )


def test_every_configured_model_builds():
    cfg = OmegaConf.to_container(compose("run"), resolve=True)
    forecast, recsys = cfg["forecast"], cfg["recsys"]
    built = {
        n: f()
        for n, f in model_factories(
            forecast, list(forecast["models"]), "D", forecast["quantiles"]
        ).items()
    }
    assert {m.name for m in built["ensemble"].members} == set(
        forecast["models"]["ensemble"]["members"]
    )
    # every base model runs partitioned on the backend, pooled as configured
    assert all(isinstance(m, Partitioned) for m in built["ensemble"].members)
    assert built["lightgbm"].pool == forecast["models"]["lightgbm"]["pool"]
    assert set(built["tiered"].expensive) == set(forecast["models"]["tiered"]["expensive"])
    for name, model in factories(
        list(recsys["models"]), recsys["models"], refs=("candidates",)
    ).items():
        assert isinstance(model(), get_class(recsys["models"][name]["_target_"]))
    assert set(forecast["train"]) <= set(forecast["models"])
    assert set(recsys["train"]) <= set(recsys["models"])
    sim = cfg["policy"]["simulation"]["forecaster"]
    assert sim in forecast["models"]


def test_one_holiday_country():
    """Set once, in conf/features; no other config restates it."""
    hits = [
        p.relative_to(REPO)
        for p in Path(REPO / "conf").rglob("*.yaml")
        if "holiday_country" in p.read_text()
    ]
    assert hits == [Path("conf/features/default.yaml")]


@pytest.mark.parametrize(
    "granularity", sorted(p.stem for p in (REPO / "conf" / "granularity").glob("*.yaml"))
)
def test_every_granularity_builds_its_hierarchy_and_direct_model(granularity):
    """Each granularity names its hierarchy levels and direct-model settings (issue 13)."""
    cfg = OmegaConf.to_container(compose("run", [f"granularity={granularity}"]), resolve=True)
    forecast, g = cfg["forecast"], cfg["granularity"]
    built = model_factories(
        forecast, ["hierarchical", "lightgbm_direct"], g["freq"], forecast["quantiles"]
    )
    hier = built["hierarchical"]()
    assert hier.levels == [list(lv) for lv in g["hierarchy"]] and hier.validation == g["horizon"]
    direct = built["lightgbm_direct"]().make()
    assert direct.horizon == g["horizon"] and direct.season_length == g["season_length"]
    sums = model_factories(forecast, ["lightgbm_sum"], g["freq"], forecast["quantiles"])
    s = sums["lightgbm_sum"]().make()
    assert s.period == g["sums"]["period"] and s.horizon >= g["horizon"]
    assert s.horizon % s.period == 0  # whole blocks cover the horizon


def test_every_search_space_builds_its_model():
    """A sampled trial of each forecasting space gives arguments its configured model takes."""
    import optuna

    cfg = OmegaConf.to_container(compose("run"), resolve=True)
    forecast = cfg["forecast"]
    spec = task_specs(cfg["tasks"])["forecast"]
    for model in spec.spaces:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        params = spec.space(model)(study.ask())
        target = dict(forecast["models"][model])
        target.pop("pool", None)
        instantiate({**target, **params, "quantiles": forecast["quantiles"]})
