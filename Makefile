# The two commands a newcomer needs:  make report   and   make test
# Both create .venv when missing and (re)install the project when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# PRICES=DIR: read recorded <SYMBOL>.csv files from DIR instead of downloading from Yahoo.
PRICES ?=
# pytest-xdist workers for `make test` (a test file stays on one worker: its module fixtures run once)
TEST_WORKERS ?= 2
RUN    ?=
CONFIG ?=
# FACTORS=FILE: a local daily factor file (French format) instead of the download from Kenneth French's library.
FACTORS ?=
# quote = one shell word, whatever the value holds (spaces, quotes, $): '...' with each ' as '\''
quote   = '$(subst ','\'',$(1))'
REPORT_ARGS := $(if $(PRICES),--prices $(call quote,$(PRICES))) $(if $(CONFIG),--config $(call quote,$(CONFIG))) \
               $(if $(RUN),--run-id $(call quote,$(RUN))) $(if $(FACTORS),--factors $(call quote,$(FACTORS)))

.PHONY: report test bench study clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	$(PY) -m analysis compile
	touch $(STAMP)

report: $(STAMP)
	$(PY) -m analysis report $(REPORT_ARGS)

test: $(STAMP)
	$(VENV)/bin/ruff check analysis tests benchmarks
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/bench_engine.py $(if $(PRICES),--prices $(call quote,$(PRICES)))

clean-venv:
	rm -rf $(VENV)
