# paper-trading — the two commands of the README, and the pieces behind them.
#   make demo   set up (first time only), run the daily DAG once on the sample data, then replay the
#               last two months of it against the simulator: its dashboard is the equity curve vs SPY
#   make test   set up (first time only), then run every test
#   make test-fast  the unit tier only, in seconds: run it after every edit
#   make lint   ruff (pyflakes, pycodestyle, isort, bugbear, pyupgrade, simplify, Airflow's AIR) and mypy
# Set-up is a virtualenv in .venv: the project with its `dev` extra, every version locked in
# constraints-dev.txt (the runtime alone is locked in constraints.txt, which the Docker image installs);
# it is redone only when pyproject.toml or the lock changes.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.9

# Embedded Airflow: metadata DB (SQLite) and airflow.cfg live in .airflow/ inside the project.
export PAPER_TRADING_ROOT := $(CURDIR)
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION := True
# The ledger as an Airflow Connection (the DAG's data-quality checks read it through common-sql).
export AIRFLOW_CONN_PAPER_TRADING_LEDGER := {"conn_type": "sqlite", "host": "$(CURDIR)/data/ledger.sqlite"}

DEMO_DATE ?= 2025-12-31
DEMO_REPLAY_START ?= 2025-11-03
DEMO_LOG ?= $(AIRFLOW_HOME)/demo.log

.PHONY: setup demo test test-fast lint bench lock sample-data clean airflow

setup: $(STAMP)

$(STAMP): pyproject.toml constraints-dev.txt
	@echo "==> setting up $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -c constraints-dev.txt -e '.[dev]'
	@touch $@

$(AIRFLOW_HOME)/airflow.db: $(STAMP)
	@mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (cat $(AIRFLOW_HOME)/db-migrate.log; exit 1)

# The DAG run's own output (Airflow's log lines) goes to $(DEMO_LOG); its tail is shown only when the
# run fails. scripts/demo_summary.py then prints each task's state and where the outputs are.
demo: $(AIRFLOW_HOME)/airflow.db
	@echo "==> running DAG paper_trading_daily for $(DEMO_DATE), mode dry (embedded Airflow on SQLite, local Alpaca simulator)"
	@start=$$(date +%s); $(BIN)/python -m alpaca_sim run --stop-timeout 5 --bars data/market/daily_bars.csv --clock $(DEMO_DATE)T09:45:00-05:00 -- \
		$(BIN)/airflow dags test paper_trading_daily -c '{"run_date": "$(DEMO_DATE)", "mode": "dry"}' > $(DEMO_LOG) 2>&1; \
	$(BIN)/python scripts/demo_summary.py --date $(DEMO_DATE) --log $(DEMO_LOG) --status $$? --since $$start
	@echo "==> replaying $(DEMO_REPLAY_START) .. $(DEMO_DATE) through the same steps, real mode against the local simulator"
	@$(BIN)/python -m paper_trading replay --start $(DEMO_REPLAY_START) --end $(DEMO_DATE) --mode real
	@echo "==> open data/replay/data/reports/summary_dashboard.html in a browser: the replay's equity curve against SPY"

# Three workers on two cores: the deployment and restart tests spend much of their time waiting on
# subprocesses and sleeps, which leaves a core idle with two workers. Same sitting, 2026-12-03:
# 351 s with three, 375 s with two; on slow sittings two took 685-767 s and three 505 s.
test: $(STAMP)
	$(BIN)/python -m pytest -n 3 --dist loadfile

# The unit tier only (tests/unit, marker `unit`: in-process, no subprocess, simulator, server or
# PostgreSQL), ~12 s here. Two workers: 12 s against 14.5 s in one process, same sitting, 2026-12-06.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m unit tests/unit -q -n 2

bench: $(STAMP)
	$(BIN)/python bench/bench_signal_bus.py
	$(BIN)/python bench/bench_broker_sim.py
	$(BIN)/python bench/bench_plan.py
	$(BIN)/python bench/bench_execute.py
	$(BIN)/python bench/bench_reconcile.py
	$(BIN)/python bench/bench_report.py
	$(BIN)/python bench/bench_report_size.py
	$(BIN)/python bench/bench_replay.py

sample-data: $(STAMP)
	$(BIN)/python data/make_sample_data.py

# Re-lock after editing the dependencies in pyproject.toml: the runtime lock is the dev lock without
# the dev extra, so both name the same version of every package they share.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header -o constraints-dev.txt
	cp constraints-dev.txt constraints.txt
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --no-header -o constraints.txt

# Lint and types: what CI runs; any finding fails. `pre-commit install` runs the same on each commit.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(AIRFLOW_HOME) logs data/intermediate data/outputs data/reports data/cache data/sim

# The Airflow UI (api-server, scheduler, dag-processor, triggerer) on the embedded home, on
# http://localhost:$(AIRFLOW_PORT) (make airflow AIRFLOW_PORT=8081, or AIRFLOW__API__PORT), listening on
# 127.0.0.1 only (AIRFLOW_UI_HOST=0.0.0.0 opens it to the network). The broker: the Connection `alpaca`
# or APCA_API_KEY_ID if configured (scripts/airflow_broker.py), else the local simulator, whose
# account, orders and clock persist in $(SIM_DB) between sessions. scripts/airflow_ui.py runs the tree:
# the terminal shows start-up, the login, errors; the components' logs are in .airflow/logs/ui/; one
# Ctrl-C stops every process of it.
AIRFLOW_PORT ?= $(or $(AIRFLOW__API__PORT),8080)
SIM_DB ?= data/sim/airflow.sqlite
# make airflow SIM_CLOCK=2026-01-02T09:45:00-05:00 moves the simulator's clock (empty: the one in SIM_DB)
SIM_CLOCK ?=

airflow: $(AIRFLOW_HOME)/airflow.db
	@$(BIN)/python -c 'import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("", $(AIRFLOW_PORT)))' 2>/dev/null \
		|| { echo "port $(AIRFLOW_PORT) is in use: stop what uses it, or make airflow AIRFLOW_PORT=8081"; exit 1; }
	@PATH="$(CURDIR)/$(BIN):$$PATH" exec $(BIN)/python scripts/airflow_ui.py --port $(AIRFLOW_PORT) --sim-db $(SIM_DB) $(if $(SIM_CLOCK),--sim-clock $(SIM_CLOCK))
