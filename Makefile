# Two commands do all the set-up: `make book` and `make test`. Both are idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The notebooks' kernel and jupyter-book's helpers must come from the project's environment.
export PATH := $(abspath $(BIN)):$(PATH)
# Progress bars are for people at a notebook: none in the built book or in nbval's runs.
export TQDM_DISABLE := 1
STAMP := $(VENV)/.installed

.PHONY: venv data book test benchmarks experiments clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[book,test]'
	touch $(STAMP)

venv: $(STAMP)

# Omniglot into data/ (nothing is fetched when the zips are already there).
data: $(STAMP)
	$(BIN)/python -m siamese_tutorial download

# The drawing page's JavaScript runtime, at the version of package-lock.json.
NODE_STAMP := node_modules/.package-lock.json
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

# The drawing page's assets, from the package: the encoder as ONNX, the runs' images and prototypes,
# the gallery threshold (chosen on the validation alphabets: a minute or two), onnxruntime-web's files.
DRAW := _extra/draw/generated
$(DRAW)/.built: $(STAMP) $(NODE_STAMP) $(wildcard siamese_tutorial/*.py siamese_tutorial/*/*.py siamese_tutorial/weights/*) | data
	$(BIN)/python -m siamese_tutorial.book.browser --out $(DRAW) --runtime node_modules/onnxruntime-web/dist
	touch $@

# Each chapter runs once, under nbval, which checks it and records it in _build/executed/ (only the
# chapters whose code or package changed since their record: a change to the prose runs nothing);
# the book is built from those records, running nothing.
# MathJax, served with the book rather than from a CDN: equations render offline, from files, and
# with no third party (the components _config.yml loads, and their fonts).
MATHJAX := _extra/mathjax
$(MATHJAX)/.copied: $(NODE_STAMP)
	rm -rf $(MATHJAX)
	mkdir -p $(MATHJAX)/a11y
	cd node_modules/mathjax/es5 && cp -r startup.js core.js input output $(abspath $(MATHJAX))/ \
		&& cp a11y/assistive-mml.js $(abspath $(MATHJAX))/a11y/
	touch $@

book: data $(DRAW)/.built $(MATHJAX)/.copied
	$(BIN)/python _ext/chapters.py execute
	$(BIN)/jupyter-book build . -W --keep-going

# Unit tests (the chapters' shown cells alone among them) and every chapter under nbval, which
# records them; the book with warnings as errors, from those records; the tests of the built book;
# and chapter 1 run in a real JupyterLab, as a reader runs it.
BUILT_TESTS := tests/test_browser.py tests/test_workflow.py tests/test_book_text.py tests/test_colab.py tests/test_pages.py \
	tests/test_figures.py
test: data $(NODE_STAMP)
	$(BIN)/python -m pytest
	$(MAKE) book
	SIAMESE_BOOK_HTML=_build/html $(BIN)/python -m pytest $(BUILT_TESTS) -p no:cacheprovider
	$(BIN)/python tools/check_jupyterlab.py 1_siamese_idea

# Measurements, not tests: loss throughput against pytorch-metric-learning, training and
# evaluation speed, chapter times, and the built pages on a slow connection; written to
# siamese_tutorial/book/results/benchmarks.json, benchmarks/pages.json and benchmarks/RESULTS.md.
benchmarks: data book
	$(BIN)/python benchmarks/run.py

# The recipe search, the recipe's seeds, the softmax classifier, the contrastive recipe and the
# long run: trains what runs/experiments/ lacks (resuming what stopped; hours of CPU), then scores
# it on validation (siamese_tutorial/book/results/experiments.json), and the shipped triplet encoders with more
# test-time views, on runs-style validation. The 20 official runs are scored by hand, once per final recipe:
# python benchmarks/experiments.py runs NAME --shifts S.
experiments: data
	$(BIN)/python benchmarks/experiments.py train $$($(BIN)/python benchmarks/experiments.py list | cut -d' ' -f1)
	$(BIN)/python benchmarks/experiments.py score $$($(BIN)/python benchmarks/experiments.py list | cut -d' ' -f1)
	$(BIN)/python benchmarks/experiments.py views w64-30min long-30k

clean:
	rm -rf _build .pytest_cache $(DRAW)
