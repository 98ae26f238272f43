# The only way in: `make demo`, `make test`, `make lint`, `make fmt`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
MATURIN := $(VENV)/bin/maturin
export VIRTUAL_ENV := $(abspath $(VENV))
# maturin installs the extras with pip; its per-package lines drown the output.
export PIP_QUIET := 1

.PHONY: venv build demo test test-rust test-python lint fmt cpython-suite bench clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "maturin==1.16.0"

venv: $(VENV)/bin/python

# Stale extension modules from an older build would shadow the new one.
build: venv
	rm -f python/pyloop/_pyloop*.so
	$(MATURIN) develop --release -q -E test,bench,plot

demo: build
	$(PY) -m pyloop.demo
	$(PY) -m pyloop.bench --quick

test: build test-rust test-python

test-rust:
	cargo test --workspace --release -q

test-python:
	$(PY) -m pytest -q

lint: venv
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --release -- -D warnings
	$(VENV)/bin/ruff check python tests
	$(VENV)/bin/ruff format --check python tests

fmt: venv
	cargo fmt --all
	$(VENV)/bin/ruff format python tests

cpython-suite: build
	$(PY) tests/cpython/run_suite.py

bench: build
	$(PY) -m pyloop.bench

clean:
	rm -rf target $(VENV) python/pyloop/_pyloop*.so
