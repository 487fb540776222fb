# Muster — the two commands that matter: `make demo` and `make test`.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV ?= uv
STACK := deploy/local/stack.sh
# `make up CLUSTER=3`: Kafka as a KRaft cluster of three nodes (deploy/local/stack.sh, which
# remembers it: later `make down`, `status` and `up` act on the cluster; CLUSTER=1 goes back).
ifdef CLUSTER
export MUSTER_KAFKA_NODES := $(CLUSTER)
endif
PY := .venv/bin/python

.PHONY: help install up demo test test-faults test-cluster test-channels test-conformance lint unit down status clean logs bench bench-rebuild bench-registrations bench-roster bench-teams bench-healthz bench-pages bench-notify-channels docs schemas

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: ## Python packages (uv), the browser assets (npm: ECharts, Swagger UI, ReDoc), Kafka jars and FerretDB, once
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet uv
	$(UV) sync --frozen --python python3
	$(PY) tools/vendor_npm.py
	@$(MAKE) --no-print-directory tools/asyncapi/node_modules/.installed tools/oidc/node_modules/.installed tools/lighthouse/node_modules/.installed
	bash $(STACK) install

# The official AsyncAPI validator, pinned by tools/asyncapi/package-lock.json (4.1.1: the
# last @asyncapi/cli that runs on Node 20); without npm the contract test says it skipped.
tools/asyncapi/node_modules/.installed: tools/asyncapi/package.json tools/asyncapi/package-lock.json
	@if command -v npm >/dev/null; then \
	  cd tools/asyncapi && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error && touch node_modules/.installed; \
	else echo "install: npm not found; the AsyncAPI document will not be validated by @asyncapi/cli"; fi

# The volunteer page's test OpenID provider (oidc-provider) and its Lighthouse benchmark,
# pinned by their package-lock.json; without npm those tests say they skipped.
tools/%/node_modules/.installed: tools/%/package.json tools/%/package-lock.json
	@if command -v npm >/dev/null; then \
	  cd tools/$* && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error && touch node_modules/.installed; \
	else echo "install: npm not found; tools/$* is not installed"; fi

up: install ## start Kafka, FerretDB and the three services (idempotent; CLUSTER=3: a 3-broker Kafka)
	bash $(STACK) up all

demo: up ## bring everything up, register a realistic batch, print the report
	.venv/bin/muster demo

lint: ## ruff, mypy (strict), import boundaries
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports

test: install ## lint, then every test against the real Kafka and FerretDB, the OpenAPI conformance run, the faults last
	bash $(STACK) up infra
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest -m "not faults and not cluster and not conformance and not channels"
	$(PY) -m pytest -m conformance tests/conformance -s
	$(PY) -m pytest -m faults tests/faults

test-faults: install ## faults under load: Kafka, the store, each service killed, a rebalance
	bash $(STACK) up infra
	$(PY) -m pytest -m faults tests/faults

unit: ## fast tests of pure logic only
	$(PY) -m pytest -m "not integration and not e2e"

test-channels: install ## a drive broadcast reaches inbox, email and webhooks as preferences say, with notify killed mid-delivery
	bash $(STACK) up infra
	$(PY) -m pytest -m channels tests/e2e/test_notification_channels.py

test-conformance: install ## schemathesis: every answer of each service, as each role, conforms to its OpenAPI
	bash $(STACK) up infra
	$(PY) -m pytest -m conformance tests/conformance -s

test-cluster: install ## faults on a 3-broker cluster it starts itself: a leader and the controller killed, a clean stop
	bash $(STACK) up ferretdb
	$(PY) -m pytest -m cluster tests/cluster

bench: install ## the performance benchmark (docs/performance.md): mixed district workload, baselines, replays, scale-out, the rebuild's
	bash $(STACK) up infra
	.venv/bin/muster bench $(BENCH_ARGS)
	$(MAKE) --no-print-directory bench-rebuild

bench-rebuild: ## reporting's rebuild of 10,000 events beside a raw aiokafka read and a raw insert_many, with peak memory; then each service's query p99 and freshness idle and during its online rebuild, under steady writes (EVENTS=1000000; REBUILD_ARGS="--services dispatch --rate 10 --seconds 20")
	$(PY) -m tools.rebuild_bench $(or $(EVENTS),10000) $(REBUILD_ARGS)

bench-registrations: up ## register→report latency over 1,000 registrations (the running services)
	.venv/bin/muster bench --registrations 1000

bench-healthz: install ## /healthz latency of reporting while 8 of the heaviest report queries run at once
	bash $(STACK) up infra
	$(PY) -m tools.healthz_under_load $(BENCH_ARGS)

bench-roster: ## roster import of 10,000 rows: read, preview, import, import again (rows/s)
	bash $(STACK) up infra
	$(PY) -m tools.roster_import_bench 10000

bench-pages: up ## Lighthouse (mobile) on the volunteer page's home and check-in screens: accessibility, best practices, performance
	$(PY) -m tools.lighthouse_pages

bench-notify-channels: ## email to 1,000 volunteers and webhooks to 10 receivers, one failing
	bash $(STACK) up infra
	$(PY) -m tools.notify_channel_fanout 1000 --receivers 10

bench-teams: ## team formation quality and speed: 10,000 sign-ups, against a naive baseline
	$(PY) -m muster_dispatch.domain.formation_bench

docs: ## regenerate docs/configuration.md from the settings models
	$(PY) -m tools.configuration_reference

schemas: ## regenerate the JSON Schemas and AsyncAPI document in contracts/
	$(PY) -m muster_contracts.schemagen

down: ## stop everything this project started
	bash $(STACK) down

status: ## what is running
	bash $(STACK) status

clean: ## stop and remove all local state
	bash $(STACK) clean

logs: ## follow a component's log: make logs C=volunteer
	bash $(STACK) logs $(C)
