# nas: `make` lists the targets.
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
NAS     = $(VENV)/bin/nas
STAMP   = $(VENV)/.installed

.PHONY: help install postgres test demo bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP)  ## .venv with torch (CPU wheel) and nas
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0   # first: the CPU wheel, never a CUDA build
	$(PY) -m pip install -q -e '.[test]'
	touch $@

postgres:  ## PostgreSQL server binaries (apt as root, else instructions)
	@deploy/ensure-postgres.sh

test: install postgres  ## the whole suite; starts its own PostgreSQL servers
	$(PY) -m pytest

demo: install postgres  ## a small study on the embedded database with 2 workers
	$(NAS) search demo -m pure -t cartpole -n 8 -g 15 -s 2 -p 200 -j 2 --stagnation-limit 5
	@echo
	@echo "Look at the results with psql:"
	@echo "  $(NAS) db psql -c 'SELECT number, state, value, params FROM nas.trials ORDER BY value DESC NULLS LAST LIMIT 5'"

bench: install postgres  ## benchmarks; each prints ratios against a baseline
	$(PY) bench/scaling.py

clean:  ## stop the embedded database and remove .venv and .nas
	-$(NAS) db stop
	rm -rf $(VENV) .nas
