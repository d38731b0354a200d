# The two commands of the README:
#   make book   set up, execute the notebooks (cached), write _build/html/index.html
#   make test   set up, lint, type check, unit tests (one worker per core), every notebook executed
#               once (its outputs cached for the book), the student edition executed, strict book
#               build from the cached outputs, browser checks, the Colab check (chapters 1, 5, 9, 12)
# The inner loop of a contributor or an instructor:
#   make check      lint, then the unit tests of the changed files and the changed notebooks
#   make gpu-check  on a CUDA machine: every chapter under the GPU budget, training and inference
#                   timings, in _build/gpu_check.json (benchmarks/gpu_check.py)
# For a course (see the instructors' guide):
#   make student        the student edition (no solutions) in _build/student/
#   make student-html   an HTML book of the student edition, _build/student-book/_build/html/
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SYSTEM_STAMP := $(VENV)/.system-stamp
BROWSER_STAMP := $(VENV)/.browser-stamp
# torch is installed on its own first, pinned to the release the project is tested with
# (the CPU build on the project's machines), so that no dependency pulls a second torch.
TORCH_PIN := torch==2.13.0

.PHONY: setup book book-strict test check gpu-check gpu-budget lint typecheck unit notebooks student student-notebooks student-html browser clean

# The full edition runs every exercise's solution through its check, and a solution that
# fails its check fails the run; the student edition runs without (its checks say "not
# attempted yet").
STRICT := MVDLIB_CHECK_STRICT=1

# Notebooks and unit tests run one per core. The executed chapters go into the book's
# execution cache (execute_notebooks: cache in _config.yml), so that the book build finds
# every chapter executed and executes none again.
JOBS ?= $(shell nproc)
EXECUTION_CACHE := _build/.jupyter_cache
EXECUTE := $(PY) scripts/execute_notebooks.py --jobs $(JOBS)

STATIC := book/_static
# Served by the book itself so that it reads offline: MathJax 3 from the npm registry,
# plotly.js from the installed plotly package (no CDN at read time).
MATHJAX_VERSION := 3.2.2
MATHJAX := $(STATIC)/mathjax/tex-chtml.js
PLOTLY_JS := $(STATIC)/plotly.min.js

setup: $(STAMP) $(SYSTEM_STAMP) $(MATHJAX) $(PLOTLY_JS)

$(MATHJAX):
	@tmp=$$(mktemp -d); \
	(cd $$tmp && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null && tar xzf mathjax-$(MATHJAX_VERSION).tgz); \
	rm -rf $(STATIC)/mathjax; mkdir -p $(STATIC); cp -r $$tmp/package/es5 $(STATIC)/mathjax; rm -rf $$tmp
	@test -f $@

$(PLOTLY_JS): $(STAMP)
	cp "$$($(PY) -c 'import os, plotly; print(os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js"))')" $@

# The exact versions the book is tested with, with their hashes (requirements/lock.txt, written
# by scripts/lock.py); mvdlib itself is installed editable, without dependencies. The package's
# ranges (pyproject.toml) are for readers; `make test-latest` tries the newest they allow.
LOCK := requirements/lock.txt

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIN)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

$(SYSTEM_STAMP): scripts/system_deps.sh
	@test -d $(VENV) || python3 -m venv $(VENV)
	bash scripts/system_deps.sh libusb-1.0-0 npm
	@touch $@

$(BROWSER_STAMP): scripts/system_deps.sh
	@test -d $(VENV) || python3 -m venv $(VENV)
	bash scripts/system_deps.sh chromium
	@touch $@

book: notebooks
	@start=$$(date +%s); \
	$(STRICT) $(BIN)/jupyter-book build . ; \
	echo "Book built in $$(( $$(date +%s) - start )) s: _build/html/index.html"

# Fails on any Sphinx warning (-W) and on broken references (-n).
book-strict: notebooks
	@start=$$(date +%s); \
	$(STRICT) $(BIN)/jupyter-book build . -W -n --keep-going; \
	echo "Book built in $$(( $$(date +%s) - start )) s: _build/html/index.html"

lint: setup
	$(BIN)/ruff check mvdlib tests benchmarks scripts

# mypy on mvdlib/ with the settings of pyproject.toml's [tool.mypy] (not strict).
typecheck: setup
	$(BIN)/mypy

# Whole files per worker (module fixtures are built once), in collection order: tests/conftest.py
# puts the longest files first (SLOW_FILES), so that no worker is left alone with one at the end.
unit: setup
	$(BIN)/python -m pytest tests mvdlib --doctest-modules --ignore=mvdlib/check.py -q -m "not book" \
		-n $(JOBS) --dist loadfile --no-loadscope-reorder --durations=15

# Opens every page of the built book in headless Chromium (run after book-strict).
browser: setup $(BROWSER_STAMP)
	$(BIN)/python -m pytest tests -q -m book

# Every notebook of the book runs top to bottom, each exercise's solution through its check (what
# `pytest --nbval-lax` checked); the outputs are kept for the book build.
notebooks: setup
	$(STRICT) $(EXECUTE) chapters book --cache $(EXECUTION_CACHE)

# The student edition needs only nbformat and PyYAML: without the full environment (.venv),
# `make student` makes a small one (.venv-student, a few seconds) instead of installing torch.
STUDENT_PY := $(if $(wildcard $(STAMP)),$(PY),.venv-student/bin/python)

.venv-student/bin/python:
	python3 -m venv .venv-student
	.venv-student/bin/python -m pip install --quiet nbformat pyyaml

student: $(STUDENT_PY)
	$(STUDENT_PY) -m mvdlib.classroom.student --src chapters --out _build/student

# Every student notebook runs top to bottom with its exercises left as stubs.
student-notebooks: setup
	$(PY) -m mvdlib.classroom.student --src chapters --out _build/student
	env -u MVDLIB_CHECK_STRICT $(EXECUTE) _build/student

student-html: setup
	$(PY) -m mvdlib.classroom.student --src chapters --out _build/student --book _build/student-book
	env -u MVDLIB_CHECK_STRICT $(BIN)/jupyter-book build _build/student-book
	@echo "Student edition: _build/student-book/_build/html/index.html"

test: lint typecheck unit notebooks student-notebooks book-strict browser colab-check

# Lint, then the unit tests of what changed since main (or HEAD) and the changed notebooks.
check: setup
	$(BIN)/ruff check mvdlib tests benchmarks scripts
	$(PY) scripts/check_changed.py --jobs $(JOBS)

gpu-check: setup
	$(PY) benchmarks/gpu_check.py --out _build/gpu_check.json

clean:
	rm -rf _build

# ---- Colab (issue 25) -------------------------------------------------------------------------
# The chapters on Google Colab's published versions (constraints/colab-*.txt): each copied alone
# into an empty folder and run through its setup cell, which must change none of Colab's
# packages; every explorer's controls must change its figure (scripts/colab_check.py). The venv
# is built once per constraints file under _build/colab-venv-<hash>. colab-check runs a
# representative set (chapters 1, 5, 9, 12) and is the last step of make test; colab-check-all runs every
# chapter.
.PHONY: colab-check colab-check-all test-latest

colab-check: setup
	$(PY) scripts/colab_check.py --torch $(TORCH_PIN)

colab-check-all: setup
	$(PY) scripts/colab_check.py --torch $(TORCH_PIN) --all

# The newest versions pyproject.toml allows, in their own venv (.venv-latest), through the unit
# tests and every notebook; the resolved versions are written to _build/latest-freeze.txt.
LATEST := .venv-latest

test-latest:
	@test -x $(LATEST)/bin/python || python3 -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST)/bin/python -m pip install --quiet $(TORCH_PIN)
	$(LATEST)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[dev]'
	@mkdir -p _build; $(LATEST)/bin/python -m pip freeze --exclude-editable > _build/latest-freeze.txt
	$(LATEST)/bin/python -m pytest tests mvdlib --doctest-modules --ignore=mvdlib/check.py -q -m "not book"
	$(STRICT) $(LATEST)/bin/python -m pytest --nbval-lax chapters -q -p no:randomly

# Runs every chapter with budget-dependent settings under MVDLIB_BUDGET=gpu (tests/test_gpu_budget.py);
# tens of minutes on a CPU, so not part of `unit`.
gpu-budget: setup
	MVDLIB_GPU_BUDGET_TESTS=1 $(STRICT) $(BIN)/python -m pytest tests/test_gpu_budget.py -q -p no:randomly

# The printed edition: the single-page HTML build printed to A4 by Debian's Chromium, then
# checked (tests/pdf_check.py). Writes _build/pdf/learning-depth.pdf and a JSON of its page
# count, size and print time beside it, and copies the PDF into the HTML build, where every
# page's footer links to it (book/_static/pdf_link.js).
PDF := _build/pdf/learning-depth.pdf
PDF_STAMP := $(VENV)/.pdf-stamp
$(PDF_STAMP): scripts/system_deps.sh
	bash scripts/system_deps.sh chromium poppler-utils
	@touch $@

.PHONY: pdf
pdf: setup $(BROWSER_STAMP) $(PDF_STAMP)
	@start=$$(date +%s); \
	$(STRICT) $(BIN)/jupyter-book build . --builder singlehtml; \
	$(PY) scripts/print_pdf.py --html _build/singlehtml --out $(PDF); \
	if [ -d _build/html ]; then cp $(PDF) _build/html/learning-depth.pdf; fi; \
	echo "PDF built in $$(( $$(date +%s) - start )) s: $(PDF)"
	$(BIN)/python -m pytest tests/pdf_check.py -q -p no:randomly
