# The two set-up commands: `make run` and `make test`. Both build .venv from
# the project's own files (pyproject.toml + requirements.lock) on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test bench bench-scale lint format install lock demo clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Serve the admin and the API on http://$(HOST):$(PORT), embedded SQLite unless
# DATABASE_URL is set; migrates, loads the demo data and prints how to log in.
run: $(STAMP)
	@bin/run-local $(HOST) $(PORT)

# The whole test suite (PostgreSQL when DATABASE_URL points at one).
test: $(STAMP)
	SECRET_KEY="$${SECRET_KEY:-$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')}" \
		$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

# Two app servers and two batch runners behind PgBouncer (transaction pooling),
# the concurrency invariants checked afterwards (docs/scaling.md).
bench-scale: $(STAMP)
	$(PY) benchmarks/bench_scale.py $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Re-resolve the pinned versions from pyproject.toml (then commit requirements.lock).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -e '.[dev]'
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) build staticfiles
