# Two commands on a fresh machine:  `make demo`  and  `make test`  (each sets up .venv first).
# TORCH_SPEC picks the torch build installed before the package (default: the CPU wheel on this machine's disk),
# e.g. TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" make demo
# Setup also builds the JupyterLab extension (labextension/, needs node >= 20) through pip's build hook;
# `make test` also installs Debian's chromium for the browser test when it is missing (root + apt-get).
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
CHROMIUM ?= /usr/bin/chromium
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
LAB_SOURCES := $(wildcard labextension/src/*.ts* labextension/src/*/*.ts* labextension/style/*) labextension/package.json \
  labextension/yarn.lock labextension/openapi.json

.PHONY: setup demo test bench browser clean api-types

setup: $(VENV)/.setup-done

$(VENV)/.setup-done: pyproject.toml install.json $(LAB_SOURCES)
	@command -v node >/dev/null || { echo "node (>= 20) is needed to build the JupyterLab extension"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_SPEC)
	$(PIP) install -q -e ".[test,lmeval,ray,docs,gguf]"
	$(BIN)/jupyter labextension list 2>&1 | grep -E "jupyter_ft .*enabled" \
	  || { echo "the jupyter_ft JupyterLab extension was not installed"; exit 1; }
	touch $@

# The browser test drives Debian's chromium (Playwright's own browser download does not work offline).
browser:
	@test -x $(CHROMIUM) || { echo "installing chromium for the browser test (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || { echo "could not install chromium: run 'apt-get install -y chromium' as root, or set CHROMIUM=path"; exit 1; }

demo: setup
	$(BIN)/jupyter-ft demo

# Two workers (TEST_WORKERS): tests pin one torch thread each and mostly wait on job processes, servers and the
# browser. Tests marked `serial` run afterwards, alone.
TEST_WORKERS ?= 2
test: setup browser
	JUPYTER_FT_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=25 -m "not serial"
	JUPYTER_FT_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -m serial

# The Studio's REST types: labextension/openapi.json (the live server's OpenAPI document) and src/api/schema.d.ts
# (openapi-typescript of it), rewritten from a real server; tests/test_api_types.py fails when they are stale.
api-types: setup
	JUPYTER_FT_WRITE_API_TYPES=1 $(BIN)/python -m pytest -q tests/test_api_types.py

bench: setup
	$(BIN)/python bench/sft_overhead.py

clean:
	rm -rf $(VENV) .demo build dist *.egg-info jupyter_ft/labextension labextension/lib labextension/node_modules labextension/tsconfig.tsbuildinfo
