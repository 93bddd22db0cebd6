# Every target that runs code first makes sure .venv exists and holds everything it needs, so each works alone
# on a fresh clone.  On a CPU-only machine torch is pinned first so pip never pulls a multi-GB CUDA build;
# on a GPU cluster override it, e.g. `make demo TORCH_SPEC="torch==2.5.1 --index-url https://..."`.
# Every other package comes at the exact version in requirements-lock.txt (LOCK= lifts the pins).
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PIP_SPEC ?= pip==26.3
LOCK ?= requirements-lock.txt
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The 25 slowest tests are listed after each run: the suite is kept under ~20 minutes on 2 cores.
PYTEST_ARGS ?= --durations=25
CONSTRAINTS := $(if $(LOCK),-c $(LOCK))

.PHONY: install demo test test-fast fuzz bench lint upgrade-deps clean

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(PIP_SPEC)"
	$(PY) -m pip install -q $(CONSTRAINTS) $(TORCH_SPEC)
	$(PY) -m pip install -q $(CONSTRAINTS) -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m launch.demo

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Unit tests only: skips the multi-process DeepSpeed and Ray runs.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

# The property-based fuzz suite with many more examples than `make test` runs (tests/fuzz/conftest.py).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q tests/fuzz $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m bench.run_all

lint: $(STAMP)
	$(PY) -m ruff check pretrain data_pipeline launch tests bench

# Refresh the pins: resolve the newest releases in a scratch venv, write them to the lock file, reinstall .venv
# from it and run the tests. Review `git diff $(LOCK)` and commit it only when the tests pass.
upgrade-deps:
	rm -rf $(VENV).upgrade
	$(PYTHON) -m venv $(VENV).upgrade
	$(VENV).upgrade/bin/python -m pip install -q --upgrade pip
	$(VENV).upgrade/bin/python -m pip install -q $(TORCH_SPEC)
	$(VENV).upgrade/bin/python -m pip install -q -e ".[dev]"
	{ sed -n '/^#/p' $(LOCK); \
	  $(VENV).upgrade/bin/python -m pip freeze --exclude-editable | grep -viE '^(torch|nvidia-|triton)[=-]'; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)
	rm -rf $(VENV).upgrade $(VENV)
	$(MAKE) test

clean:
	rm -rf $(VENV) $(VENV).upgrade demo_out outputs .pytest_cache
