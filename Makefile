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

.PHONY: venv test test-fast demo bench clean

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

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile tests

test-fast: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile -m "not slow" tests

demo: $(STAMP)
	JAX_NUM_CPU_DEVICES=$${JAX_NUM_CPU_DEVICES:-4} $(PY) -m common.demo --out demo_out

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) demo_out .pytest_cache
