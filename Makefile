# The README's commands. Each creates .venv (Python >= 3.12, pinned by requirements.lock) if needed.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# JAX >= 0.11 needs Python >= 3.12; the machine's default python3 is 3.11, so look further.
PYTHON_FOUND := $(shell \
  for c in "$$PYTHON" python3.12 python3.13 \
           "$$(pyenv root 2>/dev/null)/versions/3.12.1/bin/python3.12" \
           $$(ls -d $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null); do \
    [ -n "$$c" ] || continue; \
    if command -v "$$c" >/dev/null 2>&1 && PYENV_VERSION=3.12.1 "$$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then \
      echo "$$c"; break; fi; \
  done)

.PHONY: venv lint test test-fast demo bench clean

$(STAMP): requirements.lock pyproject.toml
	@if [ -z "$(PYTHON_FOUND)" ]; then \
	  echo "error: medjax needs Python >= 3.12 (JAX 0.12); install it (e.g. 'pyenv install 3.12') or set PYTHON=/path/to/python3.12" >&2; exit 1; fi
	@echo "creating $(VENV) with $(PYTHON_FOUND)"
	rm -rf $(VENV)
	PYENV_VERSION=3.12.1 $(PYTHON_FOUND) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: $(STAMP) lint
	$(PY) -m pytest -q -n 2 --dist loadfile tests

test-fast: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile -m "not slow" tests

demo: $(STAMP)
	JAX_NUM_CPU_DEVICES=$${JAX_NUM_CPU_DEVICES:-4} $(PY) -m common.demo --out=demo_out

# PyTorch reference for the throughput ratios: torch 2.13 CPU for Python 3.11 (a separate interpreter;
# the JAX stack needs 3.12). Skipped with a note when no python3.11 is found.
.venv-torch/bin/python:
	@if command -v python3.11 >/dev/null 2>&1; then \
	  python3.11 -m venv .venv-torch && .venv-torch/bin/pip install -q --disable-pip-version-check torch==2.13.0 numpy scikit-image matplotlib; \
	else echo "note: no python3.11 for the PyTorch reference; benchmark ratios will be omitted"; fi

# PGDIPS_OFFICIAL=PATH (a checkout of GJiananChen/PGDIPS) adds the official script's timing to bench/pgdips.py
bench: $(STAMP) .venv-torch/bin/python
	@for b in bench/[a-z]*.py; do [ "$$b" = bench/torch_reference.py ] && continue; echo "== $$b"; \
	  extra=""; [ "$$b" = bench/pgdips.py ] && [ -n "$(PGDIPS_OFFICIAL)" ] && extra="--official=$(PGDIPS_OFFICIAL)"; \
	  $(PY) $$b $$extra || exit 1; done

clean:
	rm -rf $(VENV) .venv-torch demo_out .pytest_cache
