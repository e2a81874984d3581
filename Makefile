# retail-brain — `make` or `make help` lists the targets.
# Every target that needs Python first creates or refreshes .venv from requirements/lock.txt.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
DATASET ?= online_retail
export OPENBLAS_NUM_THREADS ?= 1
# offline: no usage telemetry from MLflow (runs, `make ui`) or BentoML (docs/SECURITY.md)
export MLFLOW_DISABLE_TELEMETRY ?= true
export BENTOML_DO_NOT_TRACK ?= True
export PYTHONUNBUFFERED := 1

.DEFAULT_GOAL := help
.PHONY: help env run test test-all check-outputs test-gpu lint format ingest features train-forecast train-recsys promote tune plan build-services serve compare ui bench-data bench-forecast bench-recsys bench-policy bench-serving bench-review bench-scale bench-pools lock clean monitor console bench-monitor clv bench-clv audiences campaigns bench-campaigns bench-routing route-orders

help: ## show this help
	@echo "retail-brain — make targets:"
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(STAMP): requirements/lock.txt requirements/nodeps.txt requirements/constraints.txt pyproject.toml
	@echo ">> creating/refreshing $(VENV) from requirements/lock.txt (first time: ~3 min)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements/lock.txt \
		-c requirements/constraints.txt >$(VENV)/install.log 2>&1 \
		|| { tail -30 $(VENV)/install.log; echo "pip install failed, see $(VENV)/install.log"; exit 1; }
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements/nodeps.txt \
		>>$(VENV)/install.log 2>&1 || { tail -30 $(VENV)/install.log; exit 1; }
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . \
		>>$(VENV)/install.log 2>&1 || { tail -30 $(VENV)/install.log; exit 1; }
	@$(PY) -c "import torch; assert torch.__version__.endswith('+cpu') or torch.cuda.is_available(), torch.__version__" \
		|| { echo "torch is not the pinned CPU build; see ENVIRONMENT notes in README"; exit 1; }
	@touch $@

# the console's browser tests drive Debian's chromium (a Playwright browser download cannot work
# offline); installed once with apt, as root or through sudo
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
$(CHROMIUM):
	@echo ">> installing Debian's chromium for the browser tests (apt-get)"
	@$(SUDO) apt-get install -y -q chromium >/tmp/retail-brain-apt.log 2>&1 \
		|| { $(SUDO) apt-get update -q >>/tmp/retail-brain-apt.log 2>&1 \
		     && $(SUDO) apt-get install -y -q chromium >>/tmp/retail-brain-apt.log 2>&1; } \
		|| { tail -20 /tmp/retail-brain-apt.log; echo "could not install chromium"; exit 1; }

$(BENCH_STAMP): $(STAMP) requirements/bench.txt
	@echo ">> installing benchmark-only peers from requirements/bench.txt"
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements/bench.txt \
		>>$(VENV)/install.log 2>&1 || { tail -30 $(VENV)/install.log; exit 1; }
	@touch $@

env: $(STAMP) ## create or refresh the virtual environment only

run: $(STAMP) ## the main job on the embedded data: ingest -> features -> forecasts -> recs -> reorder plan
	$(PY) -m pipelines.run $(ARGS)

test: $(STAMP) $(CHROMIUM) ## fast tiers: unit + fast integration (excludes `slow` and `gpu`), a few minutes
	$(PY) -m pytest -m "not slow and not gpu" $(ARGS)

test-all: $(STAMP) $(CHROMIUM) ## every test but `gpu`: adds real servers, fuzzing, the notebook, neural training
	$(PY) -m pytest -m "not gpu" $(ARGS)

test-gpu: $(STAMP) ## the `gpu` tests (skipped where no CUDA device is visible)
	$(PY) -m pytest -m gpu -rs $(ARGS)

check-outputs: $(STAMP) ## validate every stored stage output against its declared schema (src/outputs)
	$(PY) -m src.outputs $(ARGS)

lint: $(STAMP) ## ruff lint + format check + the import contract (layers in pyproject.toml)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

format: $(STAMP) ## ruff autofix + format
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

ingest: $(STAMP) ## only ingest (Hydra overrides in ARGS="data=generic data.path=...")
	$(PY) -m pipelines.ingest $(ARGS)

features: $(STAMP) ## only build features from the canonical tables
	$(PY) -m pipelines.build_features $(ARGS)

train-forecast: $(STAMP) ## backtest, track, register and promote forecasters (ARGS=Hydra overrides)
	$(PY) -m pipelines.train_forecast $(ARGS)

train-recsys: $(STAMP) ## train, evaluate, register and promote recommenders; write recommendations
	$(PY) -m pipelines.train_recsys $(ARGS)

plan: $(STAMP) ## reorder + transfer suggestions from the champion forecast, policy simulation, report
	$(PY) -m pipelines.plan_inventory $(ARGS)

build-services: $(STAMP) ## package the registry champions as Bentos (BentoML store in .bentoml/)
	$(PY) -m pipelines.build_services $(ARGS)

serve: $(STAMP) ## serve the champions on loopback: recommendations :3000, planner :3001 (Ctrl-C stops)
	$(PY) -m pipelines.serve $(ARGS)

promote: $(STAMP) ## re-apply the promotion rule, ARGS="task=forecast|recsys [rule overrides]"
	$(PY) -m pipelines.promote $(ARGS)

tune: $(STAMP) ## Optuna study: ARGS="task=forecast model=lightgbm" or "task=recsys model=als"
	$(PY) -m pipelines.tune $(ARGS)

clv: $(STAMP) ## customer lifetime value: BG/NBD + Gamma-Gamma holdout evaluation (MLflow) and per-customer values
	$(PY) -m pipelines.clv $(ARGS)

campaigns: $(STAMP) ## measure campaigns (holdout effects with intervals, ROI, power, uplift models); ARGS="paths.output=..." for another dataset
	$(PY) -m pipelines.measure_campaigns $(ARGS)

audiences: $(STAMP) ## win-back / VIP / at-risk / nurture audiences with suppression and a random holdout
	$(PY) -m pipelines.audiences $(ARGS)

monitor: $(STAMP) ## KPI table + alerts (webhook/e-mail by conf/monitor) from the latest data, plan and models
	$(PY) -m pipelines.monitor $(ARGS)

console: $(STAMP) ## the web console on http://127.0.0.1:8050 (after make run; users: README "Console")
	$(PY) -m pipelines.console $(ARGS)

compare: $(STAMP) ## leaderboard + HTML report of tracked runs, ARGS="task=forecast|recsys|policy [compare.* filters]"
	$(PY) -m pipelines.compare $(ARGS)

ui: $(STAMP) ## MLflow UI on the local store, http://127.0.0.1:5000
	$(PY) -m mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db --host 127.0.0.1 --port 5000

bench-data: $(STAMP) ## benchmark ingest + features on the full embedded data
	$(PY) -m benchmarks.bench_data $(ARGS)

bench-forecast: $(BENCH_STAMP) ## forecasting benchmark vs statsforecast/mlforecast (DATASET=online_retail|m5_subset|m5_monthly)
	$(PY) -m benchmarks.$(if $(filter m5_monthly,$(DATASET)),bench_m5_monthly,bench_forecast --dataset $(DATASET)) $(ARGS)

bench-recsys: $(STAMP) ## recommendation benchmark vs peers (DATASET=online_retail, or DATA=DIR CUTOFF=… END=…)
	$(PY) -m benchmarks.bench_recsys $(if $(DATA),--data $(DATA) --cutoff $(CUTOFF) --end $(END),--dataset $(DATASET)) $(ARGS)

bench-policy: $(STAMP) ## inventory policy benchmark: forecast-driven policy vs rules of thumb (DATASET=online_retail)
	$(PY) -m benchmarks.bench_policy --dataset $(DATASET) $(ARGS)

bench-serving: $(STAMP) ## load test of both services vs a trivial BentoML echo service (needs `make run` first)
	$(PY) -m benchmarks.bench_serving $(ARGS)

bench-scale: $(STAMP) ## brands of 1x/4x/16x x 10,000 series, partition by partition, backend=local vs dask (ARGS="--sizes 1 4")
	$(PY) -m benchmarks.bench_scale $(ARGS)

bench-pools: $(STAMP) ## LightGBM pooled as one model / per partition / per category group, local vs dask (after make run)
	$(PY) -m benchmarks.bench_pools $(ARGS)

bench-monitor: $(STAMP) $(CHROMIUM) ## KPI speed/memory, anomaly recall vs a naive peer, console p95 in chromium (after make run)
	$(PY) -m benchmarks.bench_monitor $(ARGS)

route-orders: $(STAMP) ## route a day's online orders to fulfilment nodes (the seeded demo network unless routing.* files are mapped)
	$(PY) -m pipelines.route_orders $(ARGS)

bench-routing: $(STAMP) ## order routing: peers, dual-price online rule, batch MIP and the clairvoyant bound on a seeded network (4 weeks)
	$(PY) -m benchmarks.bench_routing $(ARGS)

bench-campaigns: $(STAMP) ## campaign measurement on generator data with a known effect: interval coverage over 50 seeds, uplift Qini vs response model
	$(PY) -m benchmarks.bench_campaigns $(ARGS)

bench-clv: $(STAMP) ## CLV on Online Retail vs the naive past-rate peer (after make run)
	$(PY) -m benchmarks.bench_clv $(ARGS)

bench-review: $(STAMP) ## bootstrap calibration (false positives, power) and compare timings
	$(PY) -m benchmarks.bench_review $(ARGS)

lock: ## re-resolve requirements/lock.txt from requirements/requirements.in (needs the registry)
	rm -rf /tmp/retail-brain-lock && $(PYTHON) -m venv /tmp/retail-brain-lock
	/tmp/retail-brain-lock/bin/pip install -q -r requirements/requirements.in -c requirements/constraints.txt
	/tmp/retail-brain-lock/bin/pip freeze --exclude-editable | sed 's/+cpu//' > requirements/lock.txt
	@echo "wrote requirements/lock.txt"

clean: ## remove generated data, runs and caches (keeps .venv)
	rm -rf data/processed outputs multirun logs benchmarks/out .pytest_cache .ruff_cache
	find mlruns -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
