# fillcapture — set-up and everyday commands. `make run` and `make test` do
# all their own set-up on a fresh Debian machine with Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Test processes `make test` runs the suite's files on (each file on one).
TEST_WORKERS ?= 2

.PHONY: run test lint proto bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ required"'
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

run: $(STAMP)
	$(BIN)/fillcapture run $(ARGS)

# Servers the tests start themselves on free loopback ports (never as services).
MOSQUITTO := /usr/sbin/mosquitto

$(MOSQUITTO):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto

# PostgreSQL's server binaries (initdb, pg_ctl, postgres, psql) for the
# throwaway clusters tests/pgcluster.py starts as an unprivileged user. Debian's
# package would create and start a system cluster of its own: told not to first.
PG_INITDB := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb) /usr/lib/postgresql/initdb)
PG_CREATECLUSTER := /etc/postgresql-common/createcluster.d/fillcapture.conf

$(PG_INITDB):
	install -d $(dir $(PG_CREATECLUSTER))
	printf 'create_main_cluster = false\n' > $(PG_CREATECLUSTER)
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql

# A headless browser for the tests that load the monthly statement page
# (tests/browser.py drives it over the DevTools protocol).
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# promtool, for the alerting rules' unit tests (tests/test_alert_rules.py).
# Debian's prometheus package would also install and start a Prometheus
# server as a system service: only its promtool is extracted, nothing else.
PROMTOOL := /usr/local/bin/promtool

$(PROMTOOL):
	apt-get update -qq
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  cd "$$tmp" && apt-get download -qq prometheus && \
	  dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool && \
	  install -m 0755 usr/bin/promtool $@

test: $(STAMP) $(MOSQUITTO) $(PG_INITDB) $(CHROMIUM) $(PROMTOOL)
	$(BIN)/ruff check fillcapture tests bench
	$(BIN)/mypy fillcapture
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check fillcapture tests bench
	$(BIN)/mypy fillcapture

# Regenerate the committed protobuf modules from fillcapture/feeds/t4/proto/*.proto.
proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. fillcapture/feeds/t4/proto/*.proto

bench: $(STAMP) $(MOSQUITTO)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/mqtt.py
	$(BIN)/python bench/history.py

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache
