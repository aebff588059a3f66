# edgeship: `make demo` and `make test` set up .venv when it is missing or pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# A second, runtime-only environment with numpy 2 (a device's install, no TensorFlow): the
# tests prove the runtime works there and that it can serve as a fleet worker.
NP2_VENV := .venv-np2
NP2_STAMP := $(NP2_VENV)/.installed
DEMO_OUT ?= runs/demo
FLEET_OUT ?= runs/fleet
PYTEST_ARGS ?=

.PHONY: setup demo fleet-demo test lint typecheck bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --progress-bar off -e '.[dev]'
	@touch $(STAMP)

$(NP2_STAMP): pyproject.toml
	@test -x $(NP2_VENV)/bin/python || $(PYTHON) -m venv $(NP2_VENV)
	$(NP2_VENV)/bin/python -m pip install --quiet --progress-bar off -e '.[litert,onnx,fleet,serve]' 'numpy>=2'
	@touch $(NP2_STAMP)

demo: $(STAMP)
	$(BIN)/edgeship pipeline --out $(DEMO_OUT) --force

# A local cluster (scheduler + workers cpu-a and cpu-b) benches the digits variants on both;
# writes $(FLEET_OUT)/bench.json and report.html and stops every process it started.
fleet-demo: $(STAMP)
	$(BIN)/python -m edgeship.fleet.demo --out $(FLEET_OUT)

test: $(STAMP) $(NP2_STAMP)
	EDGESHIP_NUMPY2_PYTHON=$(CURDIR)/$(NP2_VENV)/bin/python $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(NP2_VENV) .pytest_cache .ruff_cache .mypy_cache runs
