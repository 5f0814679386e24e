# Every target works on a fresh machine with Python 3.11+ and make: the venv is created on
# first use and reinstalled only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test generate check-generated lint format typecheck unit bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	@for script in examples/*.py; do \
		echo "== $$script"; \
		$(BIN)/python $$script || exit 1; \
	done

test: $(STAMP) check-generated lint typecheck unit

unit: $(STAMP)
	$(BIN)/python -m pytest -q

generate: $(STAMP)
	$(BIN)/python codegen/generate.py

check-generated: $(STAMP)
	$(BIN)/python codegen/generate.py --check

lint: $(STAMP)
	$(BIN)/ruff check src tests codegen examples benchmarks
	$(BIN)/ruff format --check src tests codegen examples benchmarks

format: $(STAMP)
	$(BIN)/ruff check --fix src tests codegen examples benchmarks
	$(BIN)/ruff format src tests codegen examples benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

# Informs, never gates: exits 0 even when a target is missed (marked MISS in the table).
bench: $(STAMP)
	$(BIN)/python -m benchmarks --write docs/benchmarks.md

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks --quick

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
