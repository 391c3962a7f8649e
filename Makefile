# iapt-report: common tasks. `make help` lists them.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

# Python that creates the virtualenv: 3.11 when it is on PATH, otherwise python3.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/iapt-report
# stamp inside the venv: deleting .venv also forgets the install
STAMP := $(VENV)/.install-stamp

# the embedded synthetic default that `make report` builds from
SYNTHETIC := _data/synthetic
SYNTHETIC_START := 2019-09-01
SYNTHETIC_END := 2021-03-31
SYNTHETIC_SCALE := 0.05
OUTPUT := _output

# Quarto installed by `make quarto` (or by .ci/run) is used when present; any other Quarto on
# PATH is used too; without one the fallback renderer (pandoc + Typst) renders
QUARTO_PREFIX := $(CURDIR)/.tools/quarto
export PATH := $(if $(wildcard $(QUARTO_PREFIX)/quarto),$(QUARTO_PREFIX):,)$(PATH)

# extra JupyterLab arguments, e.g. make lab LAB_ARGS="--no-browser --port 8899"
LAB_ARGS ?=

# extra pytest arguments, e.g. make test PYTEST_ARGS="-x -k disclosure"
PYTEST_ARGS ?=

.PHONY: help venv quarto page-check test test-fast lint report lab benchmark clean

help: ## List the targets
	@echo "Usage: make <target>"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

venv: $(STAMP) ## Create .venv and install the package with test extras, pinned by constraints.txt

# Reinstalls only when pyproject.toml or constraints.txt changed since the last install.
$(STAMP): pyproject.toml constraints.txt
	@if [ -z "$(PYTHON)" ]; then echo "error: no python3.11 or python3 on PATH; install Python 3.11" >&2; exit 1; fi
	@if [ ! -x "$(PY)" ]; then \
		echo "Creating $(VENV) with $(PYTHON)"; \
		$(PYTHON) -m venv $(VENV) || { echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu run: apt-get install python3-venv" >&2; exit 1; }; \
	fi
	$(PY) -m pip install --disable-pip-version-check --quiet -e '.[test]' -c constraints.txt
	@touch $@

quarto: ## Install Quarto 1.11 into .tools/quarto from ../shared/tools/quarto (machines without internet)
	@if [ -x "$(QUARTO_PREFIX)/quarto" ]; then echo "Quarto $$($(QUARTO_PREFIX)/quarto --version) is in $(QUARTO_PREFIX)"; \
	elif [ -x ../shared/tools/quarto/install ]; then ../shared/tools/quarto/install "$(QUARTO_PREFIX)"; \
	else echo "error: ../shared/tools/quarto/install not found; install Quarto from https://quarto.org or with conda (environment.yml)" >&2; exit 1; fi

page-check: ## Install the browser checks' npm packages (axe-core, playwright-core) into .tools/page_check
	mkdir -p .tools/page_check
	cp tests/page_check/package.json .tools/page_check/
	npm install --prefix .tools/page_check --no-audit --no-fund

test: venv ## Run every test, slow ones included (as CI does), on 2 workers
	$(PY) -m pytest -n 2 tests $(PYTEST_ARGS)

test-fast: venv ## Run the tests without the slow national-scale checks
	$(PY) -m pytest -n 2 -m "not slow" tests $(PYTEST_ARGS)

lint: venv ## Lint with ruff and type-check src/ with mypy (as pre-commit and the tests do)
	$(VENV)/bin/ruff check src tests benchmarks notebooks
	$(VENV)/bin/mypy

report: venv ## Build the September 2020 monthly and 2020-21 annual reports from the embedded synthetic data
	$(CLI) synthesize --start $(SYNTHETIC_START) --end $(SYNTHETIC_END) --scale $(SYNTHETIC_SCALE) --out $(SYNTHETIC)
	$(CLI) build --kind monthly --period 2020-09 --data $(SYNTHETIC) --output $(OUTPUT)
	$(CLI) build --kind annual --period 2020-21 --data $(SYNTHETIC) --output $(OUTPUT)

lab: venv ## Open JupyterLab on notebooks/ to edit and run the section notebooks (docs/editing.md)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(LAB_ARGS)

benchmark: venv ## Run the benchmarks
	$(PY) benchmarks/run_benchmarks.py
	$(PY) benchmarks/bench_reports.py
	$(PY) benchmarks/bench_render.py

clean: ## Remove generated data, outputs and caches (keeps .venv)
	rm -rf _output _build _data benchmarks/_work .pytest_cache .hypothesis .mypy_cache .ruff_cache src/*.egg-info
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -print0 | xargs -0 rm -rf
