# Quick start: `make demo`, then `make test`; `make ui` opens the Dagster UI on the same data.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PEOPLE ?= 5000
SEED ?= 42
END_DATE ?= 2026-11-20
HISTORY_DAYS ?= 1095
# The demo's past campaigns start on this day (cdp.yaml: campaigns).
CAMPAIGN_START ?= 2026-09-01
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export CDP_CONFIG ?= $(CURDIR)/cdp.yaml
export CDP_AS_OF ?= $(END_DATE)

.PHONY: install demo data materialize summary test ui lint clean
.PHONY: check-production workers workers-stop nightly-production

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	@touch $@

install: $(BIN)/.installed

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

data/landing:
	$(BIN)/python -m cdp_assets.demo --people $(PEOPLE) --seed $(SEED) --end-date $(END_DATE) --history-days $(HISTORY_DAYS) --out data

data: install data/landing

# The campaign loop, once per demo data set: as of the campaigns' start the platform assigns
# customers to arms and writes each arm's file; the demo's email/SMS service answers them
# (events and extra orders land as files, with the true effects in data/ground_truth).
data/landing/esp: | data/landing $(DAGSTER_HOME)/dagster.yaml
	@# (Erasure requests arrive later, in November: on that day they did not exist yet.)
	CDP_AS_OF=$(CAMPAIGN_START) $(BIN)/dagster asset materialize -m cdp_assets.definitions --select 'not group:ml and not group:ml_training and not group:privacy and not key:"*/erasure_requests"'
	$(BIN)/python -m cdp_assets.demo.campaign_responses --data data --exports exports --seed $(SEED)

materialize: install data $(DAGSTER_HOME)/dagster.yaml data/landing/esp
	@# Then as of today: everything but the models (a first run has no promoted model to score with),
	@# then training, then scoring with the customer 360 table and the exports after it.
	$(BIN)/dagster asset materialize -m cdp_assets.definitions --select 'not group:ml and not group:ml_training'
	$(BIN)/dagster job execute -m cdp_assets.definitions -j train_models
	$(BIN)/dagster job execute -m cdp_assets.definitions -j score_models

summary: install
	$(BIN)/python -m cdp_assets.reporting.summary

demo: materialize summary

# Two workers (the suite's modules share them; each has its own PostgreSQL database).
TEST_WORKERS ?= 2
# The tests' temporary files (Dagster instances, warehouses, demo data) go to memory when
# /dev/shm has room: Dagster's SQLite event log commits (and syncs to disk) once per event,
# 10-15 ms each on this kind of disk against 0.1 ms in memory, thousands of times per
# nightly run. The last run's files stay there until the next `make test` clears them.
TEST_TMPDIR ?= $(shell df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 && $$4 > 8388608 {print "/dev/shm/cdp-tests-'"$$(id -u)"'"}')

test: install
	@if [ -n "$(TEST_TMPDIR)" ]; then mkdir -p "$(TEST_TMPDIR)"; echo "test files in $(TEST_TMPDIR)"; fi
	$(if $(TEST_TMPDIR),TMPDIR=$(TEST_TMPDIR) )$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope --durations=20 $(if $(TEST_TMPDIR),--basetemp=$(TEST_TMPDIR)/pytest)

ui: install data $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

lint: install
	$(BIN)/ruff check cdp_assets cdp_assets_tests bench
	$(BIN)/ruff format --check cdp_assets cdp_assets_tests bench

clean:
	rm -rf data warehouse .dagster_home models exports reports .cdp_privacy_salt

# ---- production profile (deploy/production; README "Production profile") ----
# The same Definitions with the instance and the warehouse on PostgreSQL and the steps on
# Celery workers over RabbitMQ. Set DAGSTER_PG_URL and CDP_WAREHOUSE_URL (and, if not the
# local RabbitMQ as guest, CDP_CELERY_BROKER_URL) first; the workers inherit this environment.
PROD_DAGSTER_HOME ?= $(CURDIR)/.dagster_home_production
WORKERS ?= 2
PRODUCTION = DAGSTER_HOME=$(PROD_DAGSTER_HOME) $(BIN)/python deploy/production/production.py

$(PROD_DAGSTER_HOME)/dagster.yaml: deploy/production/dagster.yaml
	@mkdir -p $(PROD_DAGSTER_HOME)
	cp deploy/production/dagster.yaml $@

check-production: install $(PROD_DAGSTER_HOME)/dagster.yaml
	$(PRODUCTION) check

workers: install $(PROD_DAGSTER_HOME)/dagster.yaml
	$(PRODUCTION) workers-start --count $(WORKERS)

workers-stop:
	$(PRODUCTION) workers-stop

nightly-production: install $(PROD_DAGSTER_HOME)/dagster.yaml
	$(PRODUCTION) run nightly_refresh
