# PeerLink developer commands. `make test` is the full check that CI runs.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PEERLINK := $(BIN)/peerlink
# The local broker for development; tests use their own port so they never touch it.
KAFKA_PORT ?= 9092
TEST_KAFKA_PORT ?= 19092
# The engine's pure modules are compiled with mypyc (services/caregaps/native.py); COMPILE=0
# keeps the interpreted source only.
COMPILE ?= 1
NATIVE_SOURCES := $(shell grep -o '"services/[a-z_/]*\.py"' services/caregaps/native.py | tr -d '"')
# bench/ is linted once it holds Python files (mypy fails on a folder without any).
LINT_PATHS := $(strip schemas services tests $(if $(shell find bench -name '*.py' -print -quit 2>/dev/null),bench))

.PHONY: help venv kafka-up kafka-down kafka-status lint format test test-slow demo bench clean

help:
	@echo "make venv         create $(VENV), install PeerLink with its test tools, compile the engine (COMPILE=0: don't)"
	@echo "make kafka-up     start a local Kafka broker on 127.0.0.1:$(KAFKA_PORT) with all topics"
	@echo "make kafka-down   stop it and delete its data"
	@echo "make lint         ruff check, ruff format --check, mypy --strict"
	@echo "make format       apply ruff fixes and formatting"
	@echo "make test         lint + all tests against a broker on port $(TEST_KAFKA_PORT) (as CI)"
	@echo "make test-slow    long fault scenarios (20 000 events, 5 kills per service) and the PHI scan of the demo cohort"
	@echo "make demo         run the whole pipeline on a simulated cohort (starts and stops its own Kafka)"
	@echo "make bench        benchmarks: ceiling, each service, end to end, scale (~15 min; BENCH_ARGS=--quick ~3 min)"
	@echo "make clean        remove caches and build output"

venv: $(VENV)/.installed $(if $(filter 1,$(COMPILE)),$(VENV)/.native)

# Re-installs only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]' 'setuptools>=77'
	touch $@

# Compiled again whenever one of its sources changes: an extension module shadows its source,
# so an old build would run the code before the edit (the test session refuses to start then).
$(VENV)/.native: $(VENV)/.installed setup.py services/caregaps/native.py $(NATIVE_SOURCES)
	PEERLINK_COMPILE=1 $(BIN)/python -m pip install --quiet --disable-pip-version-check \
		--no-deps --no-build-isolation -e . 2>&1 | grep -v -e '^ *$$' -e BuildBackendWarning \
		-e '!!' -e '\*\*\*' -e 'Please be careful' -e 'name as your package' -e WheelFile || true
	@$(BIN)/python -c "from services.caregaps import native; b = native.build(); print('engine build:', b); raise SystemExit(b != 'compiled')"
	touch $@

kafka-up: venv
	$(PEERLINK) kafka up --port $(KAFKA_PORT)

kafka-down: venv
	$(PEERLINK) kafka down --port $(KAFKA_PORT)

kafka-status: venv
	$(PEERLINK) kafka status --port $(KAFKA_PORT)

# All three run even when one fails, so one pass shows every problem.
lint: venv
	@status=0; \
	for tool in "ruff check" "ruff format --check" "mypy --strict"; do \
		echo "$(BIN)/$$tool $(LINT_PATHS)"; \
		$(BIN)/$$tool $(LINT_PATHS) || status=1; \
	done; \
	exit $$status

format: venv
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

test: venv
	PEERLINK_COMPILE=$(COMPILE) PEERLINK_TEST_KAFKA_PORT=$(TEST_KAFKA_PORT) bash scripts/test.sh

test-slow: venv
	PEERLINK_TEST_KAFKA_PORT=$(TEST_KAFKA_PORT) PEERLINK_FAULT_TABLE=out/fault-table.md bash scripts/test.sh -m slow -s tests/reliability tests/security

demo: venv
	$(PEERLINK) demo

bench: venv
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	$(BIN)/python -m bench.run_all $(BENCH_ARGS)

clean:
	rm -rf build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis out $(VENV)/.native
	find . -path ./$(VENV) -prune -o -name '*.so' -type f -exec rm -f {} +
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
