# One-command set-up on a fresh machine: a virtual environment, torch + torchvision,
# the Debian Fashion-MNIST files and Chromium (for the HTML report's browser test) when missing,
# and dastat itself with its test extras.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.14.1 torchvision==0.29.1
FMNIST_DIR := /usr/share/datasets/fashion-mnist
JOBS ?= 2

.PHONY: demo test test-all bench install data browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg setup.py
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

data:
	@if [ ! -f $(FMNIST_DIR)/train-images-idx3-ubyte.gz ]; then \
		echo "Installing the Debian package dataset-fashion-mnist"; \
		(apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null \
		|| { echo "could not install dataset-fashion-mnist; run: sudo apt-get install dataset-fashion-mnist"; exit 1; }; \
	fi

# The report's browser test (tests/test_report_browser.py) needs a headless Chromium; without one
# it is skipped, with the reason in the test summary.
browser:
	@if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then \
		echo "Installing the Debian package chromium"; \
		(apt-get update -qq && apt-get install -y -qq chromium) >/dev/null \
		|| echo "could not install chromium; run: sudo apt-get install chromium (the browser test is skipped)"; \
	fi

demo: install data
	$(BIN)/dastat rank --student resnet8

test: install data browser
	$(BIN)/python -m pytest -n $(JOBS) -q -rs

test-all: install data browser
	$(BIN)/python -m pytest -n $(JOBS) -q -rs -m "slow or not slow"

bench: install data
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
