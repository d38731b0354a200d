# The two commands of the README:
#   make book   set up, execute the notebooks (cached), write _build/html/index.html
#   make test   set up, lint, unit tests, every notebook under nbval, strict book build
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SYSTEM_STAMP := $(VENV)/.system-stamp
# torch is installed on its own first, pinned to the release the project is tested with
# (the CPU build on the project's machines), so that no dependency pulls a second torch.
TORCH_PIN := torch==2.13.0

.PHONY: setup book book-strict test lint unit notebooks clean

setup: $(STAMP) $(SYSTEM_STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIN)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

$(SYSTEM_STAMP): scripts/system_deps.sh
	@test -d $(VENV) || python3 -m venv $(VENV)
	bash scripts/system_deps.sh
	@touch $@

book: setup
	@start=$$(date +%s); \
	$(BIN)/jupyter-book build . ; \
	echo "Book built in $$(( $$(date +%s) - start )) s: _build/html/index.html"

# Fails on any Sphinx warning (-W) and on broken references (-n).
book-strict: setup
	@start=$$(date +%s); \
	$(BIN)/jupyter-book build . -W -n --keep-going; \
	echo "Book built in $$(( $$(date +%s) - start )) s: _build/html/index.html"

lint: setup
	$(BIN)/ruff check mvdlib tests benchmarks

unit: setup
	$(BIN)/python -m pytest tests -q

notebooks: setup
	$(BIN)/python -m pytest --nbval-lax chapters -q -p no:randomly

test: lint unit notebooks book-strict

clean:
	rm -rf _build
