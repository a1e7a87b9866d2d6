# postfach: `make serve` runs a development server, `make test` runs every check.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test test-deps lint typecheck pytest bench docs screenshots clean

# Real mail programs the tests drive (Debian packages), and the PostgreSQL
# server the fault tests start privately (tests/faults). Installed when missing
# and we are root; without them the tests that need one are skipped.
TEST_DEBS := isync fetchmail getmail6 swaks libnet-ssleay-perl chromium postgresql rspamd redis-server pebble haproxy sieve-connect
TEST_BINS := mbsync fetchmail getmail swaks chromium rspamd redis-server pebble haproxy sieve-connect

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/postfach serve --dev

# ruff, then the layering contracts of pyproject.toml [tool.importlinter].
lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# In parallel (pytest-xdist): the tests mostly wait on sockets and processes, so
# four workers pay on two cores. Each has its own PostgreSQL database
# (<POSTFACH_TEST_PG's>_gw0, ...; tests/harness.py); tests/support/xdist_groups.py
# keeps the tests together that must share a worker.
PYTEST_WORKERS ?= 4

pytest: $(STAMP)
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadgroup

test-deps:
	@missing=""; for bin in $(TEST_BINS); do command -v $$bin >/dev/null 2>&1 || missing=yes; done; \
	perl -MNet::SSLeay -e1 >/dev/null 2>&1 || missing=yes; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing=yes; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing test programs: $(TEST_DEBS)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(TEST_DEBS) >/dev/null; \
	fi

test: test-deps lint typecheck pytest

# docs/configuration.md and docs/commands.md from the config classes, README's
# table and the CLI's --help (tests/docs fails when they are out of date).
docs: $(STAMP)
	$(BIN)/python tools/reference.py

# The Chromium tests at desktop (1200 px) and phone (360 px) width; the pictures
# land in tests/screenshots/ (kept out of git).
screenshots: $(STAMP) test-deps
	POSTFACH_SCREENSHOTS=1 $(BIN)/pytest -q tests/web/test_web_browser.py

bench: $(STAMP)
	$(BIN)/python bench/deliver.py

clean:
	rm -rf $(VENV) dev-data .pytest_cache .mypy_cache .ruff_cache
