# Two commands do all the set-up on a fresh machine (nothing but Python and make):
#   make demo   .venv + fitscope and its runtime dependencies (torch pinned to the CPU build),
#               then the main job, `fitscope demo`
#   make test   the same install plus the test extras (pytest, hypothesis, playwright, ray,
#               tensorboard), Debian's chromium for the browser tests when it is missing,
#               then the whole test suite
#   make notebooks  the runtime plus Jupyter (the `notebook` extra), then JupyterLab on
#               notebooks/ (one notebook per chapter of the notes)
#   make lint   the runtime plus the pinned linters (the `dev` extra), then ruff on src/,
#               tests/, benchmarks/ and tools/ and mypy on src/ (their settings: pyproject.toml)
PY       ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
CHROMIUM ?= /usr/bin/chromium
PYTEST_ARGS ?=

.PHONY: demo test lint install install-test browser bench notebooks clean

# The runtime install: what `fitscope demo`, `fitscope train` and `fitscope lab` need.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip -c constraints.txt >/dev/null
	$(BIN)/pip install -c constraints.txt -e .
	touch $@

# The test extras on top of it.
$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -c constraints.txt -e '.[test]'
	touch $@

# Jupyter on top of the runtime, for `make notebooks`.
$(VENV)/.installed-notebook: $(VENV)/.installed
	$(BIN)/pip install -c constraints.txt -e '.[notebook]'
	touch $@

# The linters, at the versions CI runs, on top of the runtime (mypy reads torch's and
# pydantic's types from it).
$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -c constraints.txt -e '.[dev,test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# The browser tests drive Debian's chromium through playwright (never `playwright install`,
# which downloads a browser build). Installed with apt when it is missing: as root, or
# through passwordless sudo; otherwise make says what to run.
browser:
	@if [ -x "$(CHROMIUM)" ]; then echo "chromium: $(CHROMIUM)"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "chromium is missing: installing Debian's chromium with apt-get"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	elif sudo -n true 2>/dev/null; then \
	  echo "chromium is missing: installing Debian's chromium with sudo apt-get"; \
	  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "the browser tests need Debian's chromium: run 'sudo apt-get install -y chromium'," \
	  "or 'make test PYTEST_ARGS=\"-m \\\"not browser\\\"\"' to leave them out" >&2; exit 1; fi
	@[ -x "$(CHROMIUM)" ] || { echo "chromium still missing at $(CHROMIUM)" >&2; exit 1; }

demo: $(VENV)/.installed
	$(BIN)/fitscope demo

test: $(VENV)/.installed-test browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Both linters run even when the first finds something; lint fails when either does.
lint: $(VENV)/.installed-dev
	@status=0; \
	$(BIN)/ruff check src tests benchmarks tools || status=1; \
	$(BIN)/mypy || status=1; \
	exit $$status

notebooks: $(VENV)/.installed-notebook
	$(BIN)/jupyter lab notebooks/

bench: $(VENV)/.installed-test
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
