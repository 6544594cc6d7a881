# nas: `make` lists the targets.
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
NAS     = $(VENV)/bin/nas
STAMP   = $(VENV)/.installed

COMPOSE ?= docker compose
WORKERS ?= 4
N       ?= 4
NAME    ?= study-001
MODE    ?= pure
TASK    ?= double-pole
TRIALS  ?= 100
GENERATIONS ?= 50
SEEDS   ?= 3
POP     ?= 300

.PHONY: help install postgres test test-slurm test-docker demo bench clean up down study workers psql logs report

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

test: install postgres  ## the whole suite, 3 processes (most tests wait on workers and servers); starts its own PostgreSQL servers
	$(PY) -m pytest -m "not slurm and not slow and not docker" -n 3 --dist load --durations=40

test-slow: install postgres  ## the scale tests kept out of make test (24 workers on one study); about 2 min
	$(PY) -m pytest -m slow -n 2

test-slurm: install postgres  ## root: a real single-node Slurm cluster (apt slurm-wlm, munge); about 75 s
	$(PY) -m pytest -m slurm tests/test_slurm.py

test-docker: install  ## root: private dockerd, image build, db + migrate + 3 workers to a finished study
	$(PY) -m pytest -m docker tests/test_docker.py

demo: install postgres  ## a small study on the embedded database with 2 workers (the first run also compiles the kernels, about 80 s)
	$(NAS) search demo -m pure -t double-pole -n 12 -g 50 -s 2 -p 100 -j 2
	@echo
	@echo "The value is the mean evaluations each seed needed to solve the double pole (lower is"
	@echo "better; unsolved seeds count more than any solved one). Look at the results:"
	@echo "  source $(VENV)/bin/activate    # puts nas on your PATH"
	@echo "  nas best demo"
	@echo "  nas db psql -c 'SELECT rank, value, success_rate, params FROM nas.leaderboard LIMIT 5'"

bench: install postgres  ## benchmarks; each prints ratios against a baseline
	$(PY) -m pip install -q -e '.[test,bench]'
	$(PY) bench/engine.py
	$(PY) bench/neat_vs_neat_python.py --generations 15
	$(PY) bench/peers.py
	$(PY) bench/scaling.py
	$(PY) bench/coordination.py
	$(PY) bench/pooler.py
	$(PY) bench/chaos.py
	$(PY) bench/views.py
	$(PY) bench/checkpoint.py
	$(PY) bench/paper.py
	$(PY) bench/records.py
	$(PY) bench/pruning.py
	$(PY) bench/memory.py
	$(PY) bench/metric_signal.py
	$(PY) bench/gpu.py
	$(PY) bench/gym_tasks.py

up:  ## compose: db + migrate + WORKERS workers (docker compose up --scale)
	@test -s deploy/secrets/db_password || (umask 022 && openssl rand -hex 16 > deploy/secrets/db_password)
	$(COMPOSE) up -d --build --scale worker=$(WORKERS)

down:  ## compose: stop everything (workers re-queue their trials)
	$(COMPOSE) down

study:  ## create NAME in the database the workers use (compose if up, else local)
	@if [ -n "$$($(COMPOSE) ps -q db 2>/dev/null)" ]; then \
	  $(COMPOSE) run --rm --no-deps migrate study create $(NAME) -m $(MODE) -t $(TASK) -n $(TRIALS) -g $(GENERATIONS) -s $(SEEDS) -p $(POP); \
	else \
	  $(NAS) study create $(NAME) -m $(MODE) -t $(TASK) -n $(TRIALS) -g $(GENERATIONS) -s $(SEEDS) -p $(POP); \
	fi

workers: install  ## supervisord: N local workers on NAS_DATABASE_URL (or the embedded db)
	$(NAS) workers up $(N) --via supervisor

psql:  ## psql on the database the workers use
	@if [ -n "$$($(COMPOSE) ps -q db 2>/dev/null)" ]; then $(COMPOSE) exec db psql -U nas_owner nas; \
	else $(NAS) db psql; fi

logs:  ## follow the workers' logs (compose, else supervisord's files)
	@if [ -n "$$($(COMPOSE) ps -q worker 2>/dev/null)" ]; then $(COMPOSE) logs -f worker; \
	else tail -F $${NAS_HOME:-.nas}/logs/*.log; fi

report: install  ## HTML + PNG report of NAME into reports/ (the database the CLI resolves)
	$(NAS) report $(NAME) --out reports

clean:  ## stop the embedded database and remove .venv and .nas
	-$(NAS) db stop
	rm -rf $(VENV) .nas
