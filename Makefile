# The two commands every newcomer needs:
#   make demo   set everything up, seed the demo partnership and serve http://127.0.0.1:5000
#   make test   set everything up and run every check and test, on SQLite and PostgreSQL
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
export PORTAL_TEST_DATABASES ?= sqlite,postgresql

.PHONY: demo test setup browser lint typecheck pytest translations bench clean

$(STAMP): pyproject.toml
	echo "Installing the Python packages into $(VENV) (log: $(VENV)/install.log)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip >$(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	$(BIN)/python -m pip install --quiet -e '.[dev]' >>$(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	rm -f $(VENV)/.installed-* && touch $@

# The last file written: a build that stopped half-way is done again.
ASSETS := static/build/govuk/govuk-frontend.min.js.gz

$(ASSETS): package.json package-lock.json static/src/portal.scss scripts/build_fonts.py | $(STAMP)
	echo "Building the front-end assets"
	npm ci --no-audit --no-fund --loglevel=error >/dev/null
	node_modules/.bin/sass --no-source-map --style=compressed --load-path=node_modules \
		--quiet-deps static/src/portal.scss static/build/portal.css
	mkdir -p static/build/govuk
	cp node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js static/build/govuk/
	rm -rf static/build/govuk/assets && cp -r node_modules/govuk-frontend/dist/govuk/assets static/build/govuk/
	rm -rf static/build/govuk/assets/fonts  # GDS Transport is for GOV.UK only
	# The PDFs' fonts, from the npm packages above: never the machine's own.
	rm -rf static/build/fonts && $(BIN)/python scripts/build_fonts.py >/dev/null
	# Compressed copies, served to browsers that accept gzip (DESIGN §7: page weight).
	gzip -9 -n -k -f static/build/portal.css static/build/govuk/govuk-frontend.min.js

# Setting up says what it is doing, not every command (the installers' output goes to a log).
.SILENT: $(STAMP) $(ASSETS) setup
setup: $(STAMP) $(ASSETS)
	$(BIN)/pybabel compile -d translations >/dev/null 2>&1 || $(BIN)/pybabel compile -d translations

# Browser tests drive Debian's Chromium (never a browser downloaded by Playwright).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	@command -v chromium >/dev/null || { echo "chromium is required for the browser tests" >&2; exit 1; }

# demo-data ends with the URL, the demo key, a claim code and a check to try.
demo: setup
	@$(BIN)/flask --app portal.app db upgrade >/dev/null
	@$(BIN)/flask --app portal.app demo-data
	@# The worker builds SAR bundles and sends the mail the portal queues for it (a reset
	@# link, say); it stops with the server.
	@$(BIN)/flask --app portal.app sar worker & trap 'kill $$! 2>/dev/null' EXIT; \
		$(BIN)/flask --app portal.app run --host 127.0.0.1 --port 5000

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

pytest: setup browser
	$(BIN)/pytest

test: lint typecheck pytest

# Extract every marked string (babel.cfg), merge it into the Welsh and Polish catalogues and
# compile them; a new string then waits, untranslated, for its translator (a test says so).
translations: setup
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --add-comments=Translators: \
		--ignore-dirs=".* node_modules static instance" --project consent-portal \
		-o translations/messages.pot . >/dev/null
	$(BIN)/pybabel update -i translations/messages.pot -d translations --width 100 \
		--no-fuzzy-matching >/dev/null
	$(BIN)/pybabel compile -d translations >/dev/null

bench: setup
	$(BIN)/python -m bench.check --db both

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
