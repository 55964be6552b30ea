# promptloop: `make run` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
HOST ?= 127.0.0.1
PORT ?= 8321

.PHONY: help run test lint format bench reliability system-deps clean

help:
	@echo "make run    start the collector + dashboard on the embedded store with simulated demo data"
	@echo "make test   install everything the tests need, lint (ruff + mypy), run the test suite"
	@echo "make lint   ruff + mypy"
	@echo "make bench  benchmarks; JSON results under benchmarks/results/"
	@echo "make reliability  long fault/outage/overload/soak tests, then benchmarks/results/reliability.json"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the tests need: a PostgreSQL server (the tests start their own), and
# Chromium for the browser tests (Playwright drives /usr/bin/chromium; it never downloads one).
system-deps:
	@if ! command -v pg_config >/dev/null || [ ! -x "$$(pg_config --bindir)/initdb" ]; then \
		echo "installing PostgreSQL server (Debian package postgresql)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq postgresql >/dev/null; \
	fi
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing Chromium (Debian packages chromium, chromium-driver)"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

test: system-deps $(STAMP) lint
	$(VENV)/bin/pytest -q -p no:cacheprovider -n 2 --dist loadscope

run: $(STAMP)
	$(VENV)/bin/promptloop serve --demo --host $(HOST) --port $(PORT)

bench: system-deps $(STAMP)
	$(PY) benchmarks/run.py

# The long versions (pytest marker `reliability`, left out of `make test`), then the report:
# kill -9 under load on every backend, an hour of simulated outage, overload, a soak, and the
# hostile-input figures (benchmarks/reliability_hostile.py) when present.
# The report is written even when a long test fails; the target still fails then.
reliability: system-deps $(STAMP)
	$(VENV)/bin/pytest -q -p no:cacheprovider -m reliability; status=$$?; \
		$(PY) benchmarks/reliability.py && exit $$status

clean:
	rm -rf $(VENV) .promptloop .pytest_cache .mypy_cache .ruff_cache
