PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_VENV ?= .venv-torch

.PHONY: demo test install bench bench-torch ett clean

# One install step for everything: the package, editable, with its test tools.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The main job: cross-validate an LSTM on the sample stock data, print the metrics table, and draw
# the folds' forecasts in the terminal (on stderr).
demo: $(STAMP)
	$(BIN)/forecast evaluate sample_data/AAPL.csv --target Close --plot -

test: $(STAMP)
	$(BIN)/python -m pytest

# A separate environment with PyTorch for the training-speed reference (CPU build on this machine).
bench-torch:
	$(PYTHON) -m venv $(TORCH_VENV)
	$(TORCH_VENV)/bin/python -m pip install --quiet 'torch==2.13.0' numpy

bench: $(STAMP)
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/train_speed.py
	$(BIN)/python benchmarks/score_bench.py
	$(BIN)/python benchmarks/memory.py

ett: $(STAMP)
	$(BIN)/python benchmarks/ett.py --all --seeds 0,1,2

clean:
	rm -rf $(VENV) $(TORCH_VENV) build *.egg-info
