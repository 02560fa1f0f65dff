# mailmon: `make demo` and `make test` work on a fresh Debian/Ubuntu with Python >= 3.11.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PORT ?= 8000

.PHONY: install demo serve test test-fast test-browser lint bench browser-deps nginx-deps mta-deps imap-deps migrate clean stop-embedded check-deploy

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --no-input

# Ctrl-C stops the stack, then the embedded PostgreSQL/Redis this run started (not ones already running).
DEMO_STEPS := $(PY) manage.py migrate --no-input && $(PY) manage.py collectstatic --no-input -v0 \
	&& $(PY) manage.py load_demo && exec $(PY) manage.py run_stack --port $(PORT) --demo
demo: install
	$(PY) manage.py embedded run -- sh -c '$(DEMO_STEPS)'

serve: install
	$(PY) manage.py migrate --no-input
	$(PY) manage.py collectstatic --no-input -v0
	$(PY) manage.py run_stack --port $(PORT)

# Debian's Chromium for the browser suite (Playwright cannot download a browser here).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "chromium missing: browser tests will be skipped (apt-get install chromium)"; }

# nginx for the proxy-config tests (tests/core/test_nginx.py).
nginx-deps:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null) || echo "nginx missing: proxy tests will be skipped (apt-get install nginx)"; }

# Real MTAs for the event shippers' end-to-end tests (tests/agent): Debian's Postfix, and Haraka
# from npm into var/node (pinned; the version is also in tests/agent/mta.py and .ci/run).
HARAKA_VERSION := 3.3.4
mta-deps:
	@command -v /usr/sbin/postfix >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null) || echo "postfix missing: its end-to-end test will be skipped (apt-get install postfix)"; }
	@if command -v npm >/dev/null 2>&1; then \
	  [ -f var/node/node_modules/Haraka/package.json ] && grep -q '"version": "$(HARAKA_VERSION)"' var/node/node_modules/Haraka/package.json \
	    || npm install --prefix var/node --no-audit --no-fund --loglevel=error Haraka@$(HARAKA_VERSION) >/dev/null; \
	else echo "node/npm missing: the Haraka and ZoneMTA plugin tests will be skipped (apt-get install nodejs npm)"; fi

# Debian's Dovecot for the warmup IMAP engagement tests (tests/warmup/dovecot.py runs a private instance).
imap-deps:
	@command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null) || echo "dovecot missing: the IMAP engagement tests will be skipped (apt-get install dovecot-imapd)"; }

test: install browser-deps nginx-deps mta-deps imap-deps
	$(PY) -m pytest -q

test-fast: install nginx-deps
	$(PY) -m pytest -q -m "not browser and not slow"

test-browser: install browser-deps
	$(PY) -m pytest -q -m browser

lint: install
	$(VENV)/bin/ruff check .

bench: install
	@for script in bench/*.py; do $(PY) $$script || exit 1; done

check-deploy: install
	MAILMON_ENV=production SECRET_KEY=$$(head -c 48 /dev/urandom | base64) ALLOWED_HOSTS=mailmon.example.com \
	  $(PY) manage.py check --deploy --fail-level WARNING

stop-embedded:
	$(PY) manage.py embedded stop

clean:
	rm -rf $(VENV) var/staticfiles
