# ntpd-ivr — `make run` brings up the whole service, `make test` runs the tests.
# Both install what they need: Debian packages (as root) and Python deps in .venv.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV     := .venv
PY       := $(VENV)/bin/python
PYTHON   ?= python3
RUN_DIR  ?= .run
# debootstrap builds Asterisk 22 (Debian sid) when the machine has none; sip-tester is SIPp;
# espeak-ng + sox render the Bahasa Indonesia prompts; baresip is the real softphone of the
# call-taker tests; openssl makes the local CA of `make run` for SIP over TLS; chromium is the
# browser the Playwright tests drive (tests/browser: Debian's build, never one Playwright
# downloads).
APT_PACKAGES := python3-venv debootstrap sip-tester espeak-ng sox postgresql-15 ca-certificates \
                baresip openssl chromium
# kamailio is the SIP edge of `make run-ha` (docs/ha.md); its packaged service is disabled
# and stopped at once: it would listen on every address with Debian's sample config.
# kamailio-tls-modules: its tls module, for call-takers' phones over TLS at the edge.
APT_PACKAGES += kamailio kamailio-tls-modules
# kannel is the SMS gateway (bearerbox + smsbox, docs/sms.md) that `make run` and the tests
# start with their own config; kannel-extras has its fake SMSC. The packaged service (it
# reads /etc/kannel/kannel.conf, a sample with default passwords) is disabled and stopped.
APT_PACKAGES += kannel kannel-extras
# patroni and etcd give `make run-ha` its PostgreSQL pair that fails over by itself
# (docs/ha.md); their packaged services are disabled: `make run-ha` runs its own, on
# loopback, with generated passwords.
APT_PACKAGES += patroni etcd-server etcd-client

.PHONY: help deps venv run call test test-unit test-browser test-e2e lint prompts clean bench bench-profile bench-faults bench-warning bench-prank bench-surge bench-location bench-texts bench-screens
.PHONY: install-systemd i18n-pot i18n-check i18n-init

help: ## this list
	@echo "ntpd-ivr — NTPD 112 call center on Asterisk 22"
	@echo
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-16s %s\n", $$1, $$2}'
	@echo
	@echo "Variables: RUN_DIR=$(RUN_DIR) (state, secrets, logs), PYTHON=$(PYTHON)"

deps: ## install missing Debian packages (as root) — run by run and test
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "[ntpd-ivr] installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "[ntpd-ivr] missing Debian packages:$$missing — run: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi
	@if [ "$$(id -u)" = 0 ] && command -v systemctl >/dev/null && \
	    systemctl is-enabled kamailio >/dev/null 2>&1; then \
	  echo "[ntpd-ivr] disabling the packaged kamailio service (make run-ha runs its own)"; \
	  systemctl disable --now kamailio >/dev/null 2>&1 || systemctl disable kamailio; \
	fi
	@if [ "$$(id -u)" = 0 ] && command -v systemctl >/dev/null && \
	    systemctl is-enabled kannel >/dev/null 2>&1; then \
	  echo "[ntpd-ivr] disabling the packaged kannel service (make run runs its own)"; \
	  systemctl disable --now kannel >/dev/null 2>&1 || systemctl disable kannel; \
	fi
	@for unit in etcd patroni; do \
	  if [ "$$(id -u)" = 0 ] && command -v systemctl >/dev/null && \
	      systemctl is-enabled $$unit >/dev/null 2>&1; then \
	    echo "[ntpd-ivr] disabling the packaged $$unit service (make run-ha runs its own)"; \
	    systemctl disable --now $$unit >/dev/null 2>&1 || systemctl disable $$unit; \
	  fi; \
	done

$(VENV)/.installed: pyproject.toml
	@echo "[ntpd-ivr] Python dependencies into $(VENV)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -U pip
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

# The places data (docs/places.md): idn-area-data at the version and checksum pinned in
# ntpd_ivr/places/package.py, downloaded from the npm registry into .cache/places (not committed);
# a no-op when the checked tarball is there.
venv: $(VENV)/.installed ## create .venv with the Python dependencies, and fetch the places data
	@$(PY) -m ntpd_ivr places fetch >/dev/null

run: deps venv ## bring up Asterisk 22 (SIP, TLS: local CA), PostgreSQL, Kannel (fake SMSC), controller, web on loopback
	$(PY) -m ntpd_ivr run --run-dir $(RUN_DIR)

.PHONY: run-ha call-ha bench-failover
run-ha: deps venv ## two Asterisk nodes + two controllers behind Kamailio, a Patroni PostgreSQL pair, on loopback (docs/ha.md)
	$(PY) -m ntpd_ivr run-ha --run-dir $(RUN_DIR)/ha

# `make call DIGIT=` presses nothing: quoted, so the empty value is still an argument.
DIGIT ?= 1
call: venv ## place a test 112 call (DIGIT=1; DIGIT= none) into the running service; prints the record
	$(PY) -m ntpd_ivr call --run-dir $(RUN_DIR) --digit '$(DIGIT)'
call-ha: venv ## the same through the Kamailio edge of `make run-ha`
	$(PY) -m ntpd_ivr call --run-dir $(RUN_DIR)/ha --digit '$(DIGIT)'

test: deps venv ## all tests: unit, protocol, integration, browser, security (attacks), end-to-end (Asterisk, PostgreSQL, SIPp, baresip)
	$(PY) -m pytest

test-unit: venv ## fast tests only (no Asterisk, no PostgreSQL)
	$(PY) -m pytest tests/unit tests/protocol

test-browser: deps venv ## browser tests only (Debian's Chromium via Playwright; screenshots in build/test-artifacts/browser)
	$(PY) -m pytest tests/browser

test-e2e: deps venv ## end-to-end tests only
	$(PY) -m pytest tests/e2e

lint: venv ## ruff and mypy
	$(VENV)/bin/ruff check ntpd_ivr tests migrations
	$(VENV)/bin/mypy

# The screen text (ntpd_ivr/i18n, docs/i18n.md): .po files read at start, no build step.
i18n-pot: venv ## write ntpd_ivr/i18n/messages.pot (every id, with its id and en text)
	$(PY) -m ntpd_ivr.i18n.tools pot

i18n-check: venv ## every id the code, templates and scripts use is in every .po file
	$(PY) -m ntpd_ivr.i18n.tools check

i18n-init: i18n-pot ## a new language's .po file to translate: make i18n-init NEW_LANG=jv
	@test -n "$(NEW_LANG)" || { echo "NEW_LANG=<code> is required, e.g. NEW_LANG=jv"; exit 1; }
	$(VENV)/bin/pybabel init -i ntpd_ivr/i18n/messages.pot -d ntpd_ivr/i18n/locale -l $(NEW_LANG)

# matplotlib (optional group `bench`) draws the benchmark charts; only the bench needs it.
$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,bench]'
	@touch $@

BENCH_ARGS ?=
bench: deps venv $(VENV)/.bench-installed ## 4 IVR paths interleaved (f: the FastAGI floor): a/b, a/f, CPU/call; surge, held callers, soak (SIPp); BENCH_ARGS=... (--baseline-rev REV: a@REV too)
	$(PY) -m ntpd_ivr bench $(BENCH_ARGS)

bench-location: deps venv ## AML SMS into Kannel -> fix on the desk, p50/p99 (SIPp + fake SMSC); BENCH_ARGS=...
	$(PY) -m ntpd_ivr bench-location $(BENCH_ARGS)

bench-texts: deps venv ## 112 by SMS, 20 sessions at once: SMS in -> desk, send -> SMSC, p50/p99; BENCH_ARGS=...
	$(PY) -m ntpd_ivr bench-texts $(BENCH_ARGS)

bench-screens: deps venv $(VENV)/.bench-installed ## 50 screens (WebSocket + Chromium) beside path-a load: push p50/p99, FastAGI probe p99 with/without, slow clients dropped; BENCH_ARGS=...
	$(PY) -m ntpd_ivr bench-screens $(BENCH_ARGS)

bench-profile: deps venv $(VENV)/.bench-installed ## py-spy on the controller under path-a load; BENCH_ARGS=...
	$(PY) -m ntpd_ivr bench-profile $(BENCH_ARGS)

bench-faults: deps venv $(VENV)/.bench-installed ## kill controller / stop PostgreSQL / restart Asterisk under load
	$(PY) -m ntpd_ivr bench-faults $(BENCH_ARGS)

bench-warning: deps venv $(VENV)/.bench-installed ## a warning campaign beside 112 path-a load: p99 ratio, contacts/min; BENCH_ARGS=...
	$(PY) -m ntpd_ivr bench-warning $(BENCH_ARGS)
bench-failover: deps venv $(VENV)/.bench-installed ## two-node stack under path-a load: kill -9 a node, a controller, the PostgreSQL primary; restart Kamailio; patronictl switchover; the whole site dark (to a second site)
	$(PY) -m ntpd_ivr bench-failover $(BENCH_ARGS)
bench-prank: deps venv $(VENV)/.bench-installed ## prank policy vs plain FIFO: genuine callers' time to a human (SIPp); BENCH_ARGS=...
	$(PY) -m ntpd_ivr bench-prank $(BENCH_ARGS)
bench-surge: deps venv $(VENV)/.bench-installed ## surge mode vs none after a quake: other emergencies' p95 to a human (SIPp); BENCH_ARGS=...
	$(PY) -m ntpd_ivr bench-surge $(BENCH_ARGS)

prompts: venv ## render prompt audio into build/prompts
	$(PY) -m ntpd_ivr prompts --out build/prompts

# Production under systemd (docs/production.md): the controller's unit, Type=notify with the
# watchdog and Restart=always. DESTDIR= for packaging; without it systemd reloads its units.
SYSTEMD_DIR ?= /etc/systemd/system
install-systemd: ## install deploy/systemd/ntpd-ivr.service (as root; layout: docs/production.md)
	install -D -m 0644 deploy/systemd/ntpd-ivr.service $(DESTDIR)$(SYSTEMD_DIR)/ntpd-ivr.service
	@if [ -z "$(DESTDIR)" ]; then systemctl daemon-reload && \
	  echo "[ntpd-ivr] installed; then: systemctl enable --now ntpd-ivr"; fi

clean: ## remove .venv, build output and caches (keeps the run folder and its secrets)
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
