# Two commands do all the set-up: `make book` and `make test`. Both are idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The notebooks' kernel and jupyter-book's helpers must come from the project's environment.
export PATH := $(abspath $(BIN)):$(PATH)
# Progress bars are for people at a notebook: none in the built book or in nbval's runs.
export TQDM_DISABLE := 1
STAMP := $(VENV)/.installed

.PHONY: venv data book test benchmarks curve clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[book,test]'
	touch $(STAMP)

venv: $(STAMP)

# Omniglot into data/ (nothing is fetched when the zips are already there).
data: $(STAMP)
	$(BIN)/python -m siamese_tutorial download

book: data
	$(BIN)/jupyter-book build . -W --keep-going

# Unit tests and every notebook under nbval, then the book with warnings as errors.
test: data
	$(BIN)/python -m pytest
	$(MAKE) book

# Measurements, not tests: loss throughput against pytorch-metric-learning, training and
# evaluation speed, chapter times; written to benchmarks/results.json and RESULTS.md.
benchmarks: data
	$(BIN)/python benchmarks/run.py

# Accuracy against training time (5, 10, 30, 60 minutes) of the triplet and the contrastive recipe:
# trains what runs/curve/ lacks (about 105 minutes on 2 cores), scores it; writes benchmarks/curve.json.
curve: data
	$(BIN)/python benchmarks/curve.py

clean:
	rm -rf _build .pytest_cache .jupyter_cache
