# Every target that runs code first makes sure .venv exists and holds everything it needs, so each works alone
# on a fresh clone.  On a CPU-only machine torch is pinned first so pip never pulls a multi-GB CUDA build;
# on a GPU cluster override it, e.g. `make demo TORCH_SPEC="torch==2.5.1 --index-url https://..."`.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test test-fast bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m launch.demo

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Unit tests only: skips the multi-process DeepSpeed and Ray runs.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m bench.run_all

lint: $(STAMP)
	$(PY) -m ruff check pretrain data_pipeline launch tests bench

clean:
	rm -rf $(VENV) demo_out outputs .pytest_cache
