# The two commands of the README:
#   make book   set up, execute the notebooks (cached), write _build/html/index.html
#   make test   set up, lint, type check, unit tests, every notebook under nbval, the student edition
#               under nbval, strict book build, browser checks
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

.PHONY: setup book book-strict test lint typecheck unit notebooks student student-notebooks student-html browser clean

# The full edition runs every exercise's solution through its check, and a solution that
# fails its check fails the run; the student edition runs without (its checks say "not
# attempted yet").
STRICT := MVDLIB_CHECK_STRICT=1

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

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIN)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

$(SYSTEM_STAMP): scripts/system_deps.sh
	@test -d $(VENV) || python3 -m venv $(VENV)
	bash scripts/system_deps.sh libusb-1.0-0 npm
	@touch $@

$(BROWSER_STAMP): scripts/system_deps.sh
	@test -d $(VENV) || python3 -m venv $(VENV)
	bash scripts/system_deps.sh chromium
	@touch $@

book: setup
	@start=$$(date +%s); \
	$(STRICT) $(BIN)/jupyter-book build . ; \
	echo "Book built in $$(( $$(date +%s) - start )) s: _build/html/index.html"

# Fails on any Sphinx warning (-W) and on broken references (-n).
book-strict: setup
	@start=$$(date +%s); \
	$(STRICT) $(BIN)/jupyter-book build . -W -n --keep-going; \
	echo "Book built in $$(( $$(date +%s) - start )) s: _build/html/index.html"

lint: setup
	$(BIN)/ruff check mvdlib tests benchmarks

# mypy on mvdlib/ with the settings of pyproject.toml's [tool.mypy] (not strict).
typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/python -m pytest tests mvdlib --doctest-modules --ignore=mvdlib/check.py -q -m "not book"

# Opens every page of the built book in headless Chromium (run after book-strict).
browser: setup $(BROWSER_STAMP)
	$(BIN)/python -m pytest tests -q -m book

notebooks: setup
	$(STRICT) $(BIN)/python -m pytest --nbval-lax chapters -q -p no:randomly

student: setup
	$(PY) -m mvdlib.classroom.student --src chapters --out _build/student

# Every student notebook runs top to bottom with its exercises left as stubs.
student-notebooks: student
	@start=$$(date +%s); \
	env -u MVDLIB_CHECK_STRICT $(BIN)/python -m pytest --nbval-lax _build/student -q -p no:randomly; \
	echo "Student edition executed in $$(( $$(date +%s) - start )) s"

student-html: setup
	$(PY) -m mvdlib.classroom.student --src chapters --out _build/student --book _build/student-book
	env -u MVDLIB_CHECK_STRICT $(BIN)/jupyter-book build _build/student-book
	@echo "Student edition: _build/student-book/_build/html/index.html"

test: lint typecheck unit notebooks student-notebooks book-strict browser

clean:
	rm -rf _build

# The printed edition: the single-page HTML build printed to A4 by Debian's Chromium, then
# checked (tests/pdf_check.py). Writes _build/pdf/learning-depth.pdf and a JSON of its page
# count, size and print time beside it.
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
	echo "PDF built in $$(( $$(date +%s) - start )) s: $(PDF)"
	$(BIN)/python -m pytest tests/pdf_check.py -q -p no:randomly
