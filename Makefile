# Two commands on a fresh machine: `make run` and `make test`.
# Each creates .venv when missing and (re)installs only when pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The browser test drives Debian's Chromium (never a browser Playwright downloads itself),
# with fonts for emoji, CJK and Devanagari so the screenshot shows every sample language.
BROWSER := /usr/bin/chromium
BROWSER_PACKAGES := chromium fonts-noto-color-emoji fonts-droid-fallback fonts-lohit-deva
APT_LOG := $(VENV)/apt-browser.log

.PHONY: run sandbox test browser lint bench migrate doctor clean

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing Threadline and its dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# Without Slack credentials `threadline run` says so and starts the local sandbox instead.
run: $(STAMP)
	@$(BIN)/threadline run

sandbox: $(STAMP)
	@$(BIN)/threadline sandbox $(SANDBOX_ARGS)

# Never fails the build: without root or apt the browser test skips and says how to install.
browser: | $(BIN)/python
	@if [ -x $(BROWSER) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian's Chromium for the browser test (log: $(APT_LOG)) ..."; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends $(BROWSER_PACKAGES); } >$(APT_LOG) 2>&1 \
	    || echo "Could not install Chromium (see $(APT_LOG)); the browser test will be skipped."; \
	else \
	  echo "No $(BROWSER), and apt-get needs root here: the browser test will be skipped" \
	    "(install it with: sudo apt-get install -y --no-install-recommends chromium)."; \
	fi

test: $(STAMP) browser
	@$(BIN)/ruff check .
	@$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check . || true

bench: $(STAMP)
	@$(BIN)/python -m benchmarks

migrate: $(STAMP)
	@$(BIN)/threadline migrate

doctor: $(STAMP)
	@$(BIN)/threadline doctor

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
