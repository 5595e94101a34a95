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

# The execution cache knows the chapters' code, not what that code reads: start it afresh when the
# package, the shipped encoders or the benchmark results are newer than it.
CACHE_STAMP := .jupyter_cache/.inputs
$(CACHE_STAMP): $(wildcard siamese_tutorial/*.py siamese_tutorial/weights/* benchmarks/*.json)
	rm -rf .jupyter_cache
	mkdir -p .jupyter_cache
	touch $@

book: data $(CACHE_STAMP)
	$(BIN)/jupyter-book build . -W --keep-going

# Unit tests and every notebook under nbval, then the book with warnings as errors.
test: data
	$(BIN)/python -m pytest
	$(MAKE) book

# Measurements, not tests: loss throughput against pytorch-metric-learning, training and
# evaluation speed, chapter times; written to benchmarks/results.json and RESULTS.md.
benchmarks: data
	$(BIN)/python benchmarks/run.py

# The recipe search, the recipe's seeds, the softmax classifier, the contrastive recipe and the
# long run: trains what runs/experiments/ lacks (resuming what stopped; hours of CPU), then scores
# it on validation (benchmarks/experiments.json). The 20 official runs are scored by hand, once per
# final recipe: python benchmarks/experiments.py runs NAME --shifts S.
experiments: data
	$(BIN)/python benchmarks/experiments.py train $$($(BIN)/python benchmarks/experiments.py list | cut -d' ' -f1)
	$(BIN)/python benchmarks/experiments.py score $$($(BIN)/python benchmarks/experiments.py list | cut -d' ' -f1)

clean:
	rm -rf _build .pytest_cache .jupyter_cache
