# Two commands do all set-up on a fresh clone:
#   make demo   builds .venv, generates a Robertson dataset, fits a mass-action surrogate to it, exports its mechanism
#   make test   builds .venv, runs the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PLUGINS := $(wildcard plugins/*/pyproject.toml)
OUT ?= out
PYTEST_WORKERS ?= 2

.PHONY: demo test test-slow venv benchmarks clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt $(PLUGINS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test]" $(foreach p,$(PLUGINS),-e $(dir $(p)))
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p $(OUT)
	$(BIN)/kinetix generate robertson --out $(OUT)/robertson.h5 --force
	$(BIN)/kinetix inspect $(OUT)/robertson.h5
	$(BIN)/kinetix train $(OUT)/robertson.h5 --out $(OUT)/robertson-run --config docs/examples/robertson-mass-action.toml --force
	$(BIN)/kinetix evaluate $(OUT)/robertson-run/surrogate $(OUT)/robertson.h5 --force
	$(BIN)/python -m kinetix.networks.export $(OUT)/robertson-run/surrogate $(OUT)/robertson-learned.yaml --force
	@echo "surrogate: $(OUT)/robertson-run/surrogate   plot: $(OUT)/robertson-run/plots/trajectories_train.png"
	@echo "learned mechanism: $(OUT)/robertson-learned.yaml"

test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -m "not slow and not cuda"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
