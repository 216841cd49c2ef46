# ITA — the two front-door commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8501

.PHONY: run test bench setup setup-dev system system-test demo engine app clean

## run: set everything up, import the demo candles, start the engine daemon and the app
run: setup
	$(BIN)/ita demo
	HOST=$(HOST) PORT=$(PORT) scripts/start.sh

## test: the same set-up plus test-only packages, then the linter and the whole suite
test: setup-dev system-test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

## bench: performance targets of every issue, peers in the same run -> BENCHMARKS.md
bench: setup-dev
	$(BIN)/python -m bench

setup: system $(VENV)/.run-installed
setup-dev: setup $(VENV)/.dev-installed

## system: Debian packages running ITA needs (installed only when missing, no prompt)
system:
	@scripts/install_system.sh run

## system-test: Debian packages only the tests need (headless Chromium)
system-test:
	@scripts/install_system.sh test

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.run-installed: $(VENV)/bin/python requirements.txt pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.run-installed requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

demo: setup
	$(BIN)/ita demo

engine: setup
	$(BIN)/ita engine

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
