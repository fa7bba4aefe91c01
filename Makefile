# Two commands do all the set-up on a fresh clone with only Python 3.11:
#   make demo   FastAPI example host on SQLite with seeded data and curl lines
#   make test   ruff, mypy, the whole test suite and the built-package check
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
EXTRAS := dev,fastapi,flask,redis,postgres,examples

.PHONY: install browser demo demo-flask test lint pytest package-check plugin-check bench clean catalogs mutation

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed

demo: install
	mkdir -p demo-data
	$(BIN)/python -m examples.fastapi_host serve --port $(PORT) --database-url sqlite:///demo-data/fastapi-demo.db --demo --outbox demo-data/outbox

demo-flask: install
	mkdir -p demo-data
	$(BIN)/python -m examples.flask_host serve --port $(PORT) --database-url sqlite:///demo-data/flask-demo.db --demo --outbox demo-data/outbox

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Debian's headless Chromium (and its driver) for the end-to-end browser test;
# installed once, when missing. Without root outside CI the test skips instead.
browser:
	@command -v chromium >/dev/null 2>&1 || apt-get install -y chromium chromium-driver >/dev/null 2>&1 \
		|| (apt-get update >/dev/null 2>&1 && apt-get install -y chromium chromium-driver >/dev/null 2>&1) \
		|| { echo "could not install chromium (apt-get install chromium chromium-driver)"; test -z "$$CI"; }

pytest: install browser
	$(BIN)/pytest

# Builds the sdist and the wheel, checks them, installs the wheel (not the
# checkout) into fresh virtualenvs and runs a smoke test outside the tree.
package-check: install
	$(BIN)/python scripts/check_package.py

# Installs the wheel and both example plugins (pip install, not editable) into a
# fresh virtualenv and serves them from the unmodified example hosts (Redis needed).
plugin-check: install
	$(BIN)/python scripts/check_plugin_installs.py

test: lint pytest package-check plugin-check

# Translations (Babel): extract every marked text of the templates and the
# Python sources into the template catalog, merge it into each language's .po
# (new languages: `make catalogs LOCALE=fr`), and compile the .mo files the
# package ships. Translate the new or fuzzy entries of each .po, then run it again.
LOCALES_DIR := src/client_portal_core/locales
catalogs: install
	$(BIN)/pybabel extract -F babel.cfg -k N_ --add-location=file --sort-by-file \
		--project=client-portal-core --copyright-holder="client-portal-core developers" \
		--no-wrap -o $(LOCALES_DIR)/client_portal.pot src/client_portal_core
	@if [ -n "$(LOCALE)" ] && [ ! -f $(LOCALES_DIR)/$(LOCALE)/LC_MESSAGES/client_portal.po ]; then \
		$(BIN)/pybabel init -D client_portal -i $(LOCALES_DIR)/client_portal.pot \
			-d $(LOCALES_DIR) -l $(LOCALE) --no-wrap; fi
	$(BIN)/pybabel update -D client_portal -i $(LOCALES_DIR)/client_portal.pot \
		-d $(LOCALES_DIR) --ignore-obsolete --ignore-pot-creation-date --no-wrap
	$(BIN)/pybabel compile -D client_portal -d $(LOCALES_DIR) --statistics

# wrk is the HTTP load generator of the benchmarks (Debian package "wrk").
bench: install
	@command -v wrk >/dev/null || apt-get install -y wrk >/dev/null 2>&1 \
		|| (apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1) \
		|| { echo "install wrk (apt-get install wrk) to run the HTTP benchmarks"; exit 1; }
	$(BIN)/python -m benchmarks

# Mutation testing (mutmut; not part of `make test` or CI): mutates tokens,
# webhook signing, the storage queries and rate limiting ([tool.mutmut] in
# pyproject.toml), runs the tests that reach each mutant, and lists the
# survivors; review them against docs/mutation.md. MUTANTS narrows the run
# (`make mutation MUTANTS='client_portal_core.tokens*'`); CHILDREN the parallel runs.
CHILDREN ?= 2
MUTANTS ?=
mutation: install
	rm -rf mutants
	$(BIN)/mutmut run --max-children $(CHILDREN) $(MUTANTS)
	@$(BIN)/mutmut results | grep -v ": not checked$$" || echo "no survivors"

clean:
	rm -rf $(VENV) demo-data artifacts .pytest_cache .mypy_cache .ruff_cache mutants
