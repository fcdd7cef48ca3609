# Two commands do all set-up on a fresh machine with Python 3.11:
#   make book   build the book into book/_build/html
#   make test   run the whole test suite
# Both create .venv and install requirements.txt (and this package, editable) on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test test-quick lint clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -e .
	touch $@

# Front-end assets the site serves itself, from pinned npm packages: MathJax, and the widget
# runtime (require.js, @jupyter-widgets/html-manager's embed-amd.js with the fonts its CSS names,
# anywidget's AMD module, and our require.js config mapping "anywidget" to it). Sphinx copies
# html_extra_path only when it writes a page, so new assets drop the old HTML (the executed
# notebooks stay cached in book/_build/.jupyter_cache) for them to reach the site.
ASSETS := book/_vendor/.copied
MATHJAX := book/node_modules/mathjax/es5
HTML_MANAGER := book/node_modules/@jupyter-widgets/html-manager/dist

$(ASSETS): book/package.json book/package-lock.json book/_widgets/require-config.js
	cd book && npm ci --no-audit --no-fund --loglevel=error
	rm -rf book/_vendor && mkdir -p book/_vendor/mathjax book/_vendor/widgets
	cd $(MATHJAX) && cp -r --parents tex-chtml.js input/tex/extensions output/chtml/fonts/woff-v2 ui a11y $(CURDIR)/book/_vendor/mathjax/
	cp book/node_modules/requirejs/require.js book/_widgets/require-config.js book/_vendor/widgets/
	cp book/node_modules/anywidget/dist/index.js book/_vendor/widgets/anywidget.js
	cp $(HTML_MANAGER)/embed-amd.js $(HTML_MANAGER)/*.woff2 $(HTML_MANAGER)/*.woff $(HTML_MANAGER)/*.ttf \
	   $(HTML_MANAGER)/*.eot $(HTML_MANAGER)/*.svg book/_vendor/widgets/
	rm -rf book/_build/html
	touch $@

book: $(STAMP) $(ASSETS)
	$(BIN)/jupyter-book build book --warningiserror --nitpick --keep-going

test: $(STAMP)
	$(BIN)/python -m pytest --numprocesses=auto --dist=loadfile

test-quick: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" --numprocesses=auto --dist=loadfile

# Style and complexity (ruff: pyflakes and McCabe complexity, configured in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf book/_build book/_vendor book/node_modules

# The student kit, for an instructor to hand to a class: the release notebooks, a wheel with the checks
# (from recorded cases), the demos and the reference code the chapters import, and a README; no answers.
.PHONY: student-kit
student-kit: $(STAMP)
	$(BIN)/python -m grader.kit --out dist/student-kit

# Regenerate the student release exercises/ (and the book's copy of it) from solutions/ with nbgrader.
.PHONY: exercises
exercises: $(STAMP)
	$(BIN)/python -m grader.release

# Benchmark: grade a generated class with stock nbgrader and with `python -m grader grade`, time the
# book build, and write benchmarks/RESULTS.md (about 20 minutes on 2 cores). Options:
# make bench BENCH_ARGS="--students 10 --skip-book".
.PHONY: bench
BENCH_ARGS ?=
bench: $(STAMP) $(ASSETS)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)
