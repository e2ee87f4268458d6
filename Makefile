# Two commands on a fresh machine:  `make demo`  and  `make test`  (each sets up .venv first).
# TORCH_SPEC picks the torch build installed before the package (default: the CPU wheel on this machine's disk),
# e.g. TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" make demo
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

.PHONY: setup demo test bench clean

setup: $(VENV)/.setup-done

$(VENV)/.setup-done: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_SPEC)
	$(PIP) install -q -e ".[test]"
	touch $@

demo: setup
	$(BIN)/jupyter-ft demo

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/sft_overhead.py

clean:
	rm -rf $(VENV) .demo build dist *.egg-info
