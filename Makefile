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
# The lowest and highest supported Pythons: `make test-matrix` builds .venv-py310 and .venv-py312
# and runs the suite in each (`make test` runs it on the default python3). A missing
# interpreter is reported loudly and its run skipped; point PY310/PY312 at another one.
PYENV_VERSIONS ?= $(HOME)/.pyenv/versions
PY310 ?= $(lastword $(sort $(wildcard $(PYENV_VERSIONS)/3.10.*/bin/python3.10)))
PY312 ?= $(lastword $(sort $(wildcard $(PYENV_VERSIONS)/3.12.*/bin/python3.12)))
MATRIX := 310 312

.PHONY: setup browser demo fleet-demo test mutants test-matrix $(addprefix setup-py,$(MATRIX)) $(addprefix test-py,$(MATRIX)) lint typecheck bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --progress-bar off -e '.[dev]'
	@touch $(STAMP)

# Headless Chromium for the tests that render the HTML reports at 1,400 px
# (tests/pipeline/test_report_browser.py): installed with apt-get (Debian's `chromium`,
# about 60 s) when it is missing and this runs as root. Never fails the build: without it
# those tests skip with a reason.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "== installing chromium (apt-get) for the report-rendering tests =="; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	      || echo "######## WARNING: apt-get could not install chromium: the report-rendering tests skip ########"; \
	  else \
	    echo "######## WARNING: no chromium and no root apt-get: the report-rendering tests skip ########"; \
	  fi; }

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

test: $(STAMP) $(NP2_STAMP) browser
	EDGESHIP_NUMPY2_PYTHON=$(CURDIR)/$(NP2_VENV)/bin/python $(BIN)/python -m pytest $(PYTEST_ARGS)

# Targeted mutation testing of the load-bearing lines (slow; not part of CI): lists the
# mutants that survive their tests. The list and the last result: tests/README.md.
mutants: $(STAMP)
	$(BIN)/python scripts/mutants.py

test-matrix: $(addprefix test-py,$(MATRIX))

# setup-py310 / test-py310 (and 312): the venv is rebuilt when pyproject.toml changes.
$(addprefix setup-py,$(MATRIX)): setup-py%:
	@py="$(PY$*)"; venv=.venv-py$*; \
	if [ -z "$$py" ] || [ ! -x "$$py" ]; then \
	  echo "######## WARNING: no Python $* found (PY$*='$$py'): its venv is NOT built ########"; \
	  exit 0; fi; \
	if [ -f $$venv/.installed ] && [ ! pyproject.toml -nt $$venv/.installed ]; then exit 0; fi; \
	test -x $$venv/bin/python || "$$py" -m venv $$venv || exit 1; \
	$$venv/bin/python -m pip install --quiet --upgrade pip || exit 1; \
	$$venv/bin/python -m pip install --quiet --progress-bar off -e '.[dev]' || exit 1; \
	touch $$venv/.installed

$(addprefix test-py,$(MATRIX)): test-py%: setup-py% $(NP2_STAMP) browser
	@if [ ! -f .venv-py$*/.installed ]; then \
	  echo "######## WARNING: Python $* tests SKIPPED: no .venv-py$* (see above) ########"; \
	  exit 0; fi; \
	echo "== the suite on $$(.venv-py$*/bin/python --version) =="; \
	EDGESHIP_NUMPY2_PYTHON=$(CURDIR)/$(NP2_VENV)/bin/python .venv-py$*/bin/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(NP2_VENV) $(addprefix .venv-py,$(MATRIX)) .pytest_cache .ruff_cache .mypy_cache runs
