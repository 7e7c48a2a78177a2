# Two commands on a fresh machine: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= data
export UV_PYTHON_DOWNLOADS := never
export HPT_DB ?= $(DATA)/hpt.duckdb

.PHONY: help install chromium cluster-servers lint test test-fast run airflow cluster cluster-down bench \
	bench-warehouse bench-cluster registry clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(VENV)/.synced: pyproject.toml uv.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(PYTHON) -m uv sync --frozen --python 3.11
	@touch $@

install: $(VENV)/.synced  ## create .venv with the locked dependencies

chromium:  ## Debian's Chromium for the real-browser tests
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; }

cluster-servers:  ## Debian's PostgreSQL 15 and Redis for the distributed profile (`make cluster`)
	@{ [ -x /usr/lib/postgresql/15/bin/postgres ] && command -v redis-server >/dev/null 2>&1; } || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql-15 redis-server >/dev/null; }

lint: install  ## ruff, mypy and the import layers (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: install chromium cluster-servers lint  ## everything, as CI runs it
	$(BIN)/pytest

test-fast: install  ## the tests without browser, scheduler and cluster tests
	$(BIN)/pytest -m "not browser and not scheduler and not cluster"

run: install  ## demo universe on localhost → hpt run → summary and comparison → dashboard
	@mkdir -p $(DATA)
	BIN=$(BIN) DATA=$(DATA) scripts/run_demo.sh

airflow: install  ## the nightly DAG in `airflow standalone` (SQLite) over the served demo universe
	BIN=$(BIN) DATA=$(DATA) scripts/airflow_demo.sh

cluster: install cluster-servers  ## the distributed profile: Airflow on Postgres, Celery over Redis, 2 workers, S3 (docs/cluster.md)
	$(BIN)/python -m devtools.cluster up --state $(DATA)/cluster

cluster-down:  ## stop every process `make cluster` started (none is left)
	$(BIN)/python -m devtools.cluster down --state $(DATA)/cluster

bench: install  ## throughput and memory benchmarks (writes ~GB files under bench/out/)
	@for script in bench/bench_*.py; do \
	  case $$script in *bench_warehouse.py|*bench_cluster.py) continue;; esac; \
	  echo "== $$script"; $(BIN)/python $$script || exit 1; done

bench-warehouse: install  ## the dashboard's reads at 50 M rates: 500 facilities × 100,000 rates (~4 GB, ~30 min)
	$(BIN)/python bench/bench_warehouse.py

bench-cluster: install cluster-servers  ## the DAG on the cluster, one worker then two, 200 facilities (~1 h)
	$(BIN)/python bench/bench_cluster.py --concurrency 1,2

registry: install  ## rebuild registry/us-hospitals.csv from ../shared/data/registry (the onefact list)
	$(BIN)/hpt sources import ../shared/data/registry/onefact-hospitals-2023.csv --format onefact \
		--sources registry/us-hospitals.csv --replace \
		--note "onefact/payless.health-data-processing, hospital_price_transparency/data/hospitals.csv (commit 9e8e225, 2023-02-20), Apache License 2.0"

clean:  ## remove generated data and benchmark files (not the venv)
	rm -rf $(DATA) bench/out
