# Two commands do all set-up on a fresh clone:
#   make demo   builds .venv, generates a Robertson dataset, trains a stiff neural ODE on it
#   make test   builds .venv, runs the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PLUGINS := $(wildcard plugins/*/pyproject.toml)
OUT ?= out
DEMO_EPOCHS ?= 500
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
	$(BIN)/kinetix train $(OUT)/robertson.h5 --out $(OUT)/robertson-run --config docs/examples/robertson.toml \
		--epochs $(DEMO_EPOCHS) --force
	$(BIN)/kinetix evaluate $(OUT)/robertson-run/surrogate $(OUT)/robertson.h5 --force
	$(BIN)/kinetix generate pollu --out $(OUT)/pollu.h5 --force
	$(BIN)/kinetix inspect $(OUT)/pollu.h5
	@echo "surrogate: $(OUT)/robertson-run/surrogate   plots: $(OUT)/robertson-run/plots"

test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -m "not slow and not cuda"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
