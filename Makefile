# Two commands do all set-up on a fresh machine with Python 3.11:
#   make book   build the book into book/_build/html
#   make test   run the whole test suite
# Both create .venv and install requirements.txt (and this package, editable) on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test test-quick clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -e .
	touch $@

# Front-end assets the site serves itself (MathJax), from pinned npm packages.
ASSETS := book/_vendor/.copied
MATHJAX := book/node_modules/mathjax/es5

$(ASSETS): book/package.json book/package-lock.json
	cd book && npm ci --no-audit --no-fund --loglevel=error
	rm -rf book/_vendor && mkdir -p book/_vendor/mathjax
	cd $(MATHJAX) && cp -r --parents tex-chtml.js input/tex/extensions output/chtml/fonts/woff-v2 ui a11y $(CURDIR)/book/_vendor/mathjax/
	touch $@

book: $(STAMP) $(ASSETS)
	$(BIN)/jupyter-book build book --warningiserror --nitpick --keep-going

test: $(STAMP)
	$(BIN)/python -m pytest

test-quick: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

clean:
	rm -rf book/_build book/_vendor book/node_modules

# Regenerate the student release exercises/ (and the book's copy of it) from solutions/ with nbgrader.
.PHONY: exercises
exercises: $(STAMP)
	$(BIN)/python -m grader.release
