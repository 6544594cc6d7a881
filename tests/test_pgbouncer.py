"""nas through a real pgbouncer in transaction mode (Debian's package, nas's shipped
deploy/pgbouncer/pgbouncer.ini) between worker processes and the test PostgreSQL.

The pool is cut to POOL server connections so that six workers' ~18 client connections
really share them: consecutive transactions of one worker land on different server
connections, which is what would break anything that needs a session (session-level
advisory locks, SET, prepared statements, LISTEN, temporary tables). Clients
authenticate to pgbouncer with scram and a password file, pgbouncer to PostgreSQL with
scram, as in compose.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from nas.testing import (PASSWORD, PASSWORD_USER, ROOT, admin, nas, query, start_nas, trial_states,
                      traversable, wait_until)
from test_faults import assert_exact_budget, held_when_killed, running_with_progress
from tests.pgbouncer_server import Bouncer, connstring, shipped
from tests.system_packages import ensure

POOL = 4
PACED = ["--objective", "tests.fixtures.objectives:evolve_paced", "--pruner", "none",
         "--sampler", "random", "-m", "pure", "-t", "cartpole", "-s", "1", "-p", "30"]
FAST = {"NAS_HEARTBEAT_INTERVAL": "1", "NAS_HEARTBEAT_GRACE": "4",
        "NAS_TEST_GENERATION_SECONDS": "0.4"}


@pytest.fixture(scope="module")
def bouncer(pg, tmp_path_factory):
    ensure({"pgbouncer": "pgbouncer"})
    server = Bouncer(traversable(tmp_path_factory.mktemp("pgbouncer")) / "run", pg.port,
                     {PASSWORD_USER: PASSWORD},
                     overrides={"default_pool_size": str(POOL), "reserve_pool_size": "0",
                                "admin_users": PASSWORD_USER})
    server.start()
    yield server
    server.stop()


class Pooled:
    """One fresh database owned by the scram role, reached through pgbouncer by nas
    (env) and directly by the test's own checks (direct: trusted admin)."""

    def __init__(self, pg, bouncer, tmp_path):
        self.db = "t_" + uuid.uuid4().hex[:12]
        admin(pg, f'CREATE DATABASE "{self.db}" OWNER {PASSWORD_USER}')
        secret = traversable(tmp_path) / "db_password"
        secret.write_text(PASSWORD)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NAS_")}
        self.env.update({"NAS_DATABASE_URL": bouncer.url(PASSWORD_USER, self.db),
                         "NAS_DATABASE_PASSWORD_FILE": str(secret),
                         "NAS_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"})
        self.through_pooler = bouncer.url(PASSWORD_USER, self.db).replace(
            f"{PASSWORD_USER}@", f"{PASSWORD_USER}:{PASSWORD}@")
        self.direct = f"postgresql+psycopg2://nas_admin@127.0.0.1:{pg.port}/{self.db}"
        self.logs = tmp_path


@pytest.fixture
def pooled(pg, bouncer, tmp_path) -> Pooled:
    return Pooled(pg, bouncer, tmp_path)


class PeakConnections(threading.Thread):
    """Samples, until stopped, the server connections PostgreSQL holds for the database
    and the client connections pgbouncer holds for it; keeps the peaks."""

    def __init__(self, bouncer: Bouncer, pooled: Pooled):
        super().__init__(daemon=True)
        self.bouncer, self.pooled = bouncer, pooled
        self.servers = self.clients = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            servers = query(self.pooled.direct, "SELECT count(*) FROM pg_stat_activity "
                                                "WHERE datname = current_database() AND usename = :u",
                            u=PASSWORD_USER)[0][0]
            clients = sum(1 for c in self.bouncer.console(PASSWORD_USER, "SHOW CLIENTS")
                          if c["database"] == self.pooled.db)
            self.servers, self.clients = max(self.servers, servers), max(self.clients, clients)

    def __enter__(self) -> "PeakConnections":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.join()


def test_shipped_ini_pools_transactions_and_restores_nas_settings():
    databases, settings = shipped()
    assert settings["pool_mode"] == "transaction"
    assert "options" in [p.strip() for p in settings["ignore_startup_parameters"].split(",")]
    query_ = connstring(databases["nas"])["connect_query"]
    assert "search_path = public" in query_ and "idle_in_transaction_session_timeout" in query_


def test_sessions_through_pgbouncer_keep_nas_settings(pooled, pg):
    """The startup options pgbouncer drops come back from its connect_query."""
    rows = query(pooled.through_pooler, "SELECT current_setting('search_path'), "
                 "current_setting('idle_in_transaction_session_timeout'), inet_server_port()")
    assert rows == [("public", "30s", pg.port)]


def test_six_workers_exact_budget_and_a_killed_workers_trial_retried(pooled, bouncer):
    """Migrations, study creation, claims (SELECT ... FOR UPDATE, FOR UPDATE SKIP LOCKED
    in the reaper), heartbeats and retries, all through POOL shared server connections."""
    env = {**pooled.env, **FAST}
    nas("db", "upgrade", env=env, check=True)  # alembic in one transaction, xact lock
    nas("study", "create", "pooled", *PACED, "-n", "12", "-g", "6", env=env, check=True)
    with PeakConnections(bouncer, pooled) as peak:
        procs = [start_nas("worker", "--study", "pooled", "--threads", "1", env=env,
                           log=pooled.logs / f"w{i}.log") for i in range(6)]
        victim = procs[0]
        wait_until(lambda: running_with_progress(pooled.direct, victim.pid), 120,
                   what="the victim mid-evolution")
        victim.kill()
        victim.wait()
        held = held_when_killed(pooled.direct, victim.pid)
        assert held and held[1] == "RUNNING", held
        assert [p.wait(timeout=180) for p in procs[1:]] == [0] * 5
    trials = assert_exact_budget(pooled.direct, "pooled", 12)
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == held[0]]
    assert len(retries) == 1 and retries[0].state.name == "COMPLETE"
    original = next(t for t in trials if t.number == held[0])
    assert original.state.name == "FAIL" and retries[0].params == original.params
    # one claim per trial: no two workers ever took the same slot or bound the same trial
    assert query(pooled.direct, "SELECT count(*) FROM (SELECT trial_id FROM nas.claims WHERE "
                                "trial_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1) d") == [(0,)]
    assert query(pooled.direct, "SELECT count(DISTINCT worker_id) FROM nas.claims")[0][0] >= 3
    # pooling happened: many more clients than server connections, never above the pool
    assert peak.servers <= POOL and peak.clients >= 2 * 6, (peak.servers, peak.clients)


def test_checkpoints_and_resume_through_pgbouncer(pooled):
    """A checkpoint every generation (one INSERT ... ON CONFLICT each, on whichever server
    connection the pool hands out), SIGTERM mid-trial, and the retry resumes bit for bit."""
    from test_resume import SIZES, assert_same_as_uninterrupted

    paced = ["--objective", "tests.fixtures.objectives:evolve_paced", "--pruner", "none",
             "--sampler", "random", *SIZES["pure"]]
    nas("db", "upgrade", env=pooled.env, check=True)
    nas("study", "create", "ckpt", *paced, "-n", "1", env=pooled.env, check=True)
    every = {**pooled.env, "NAS_TEST_GENERATION_SECONDS": "0.4", "NAS_CHECKPOINT_SECONDS": "0"}
    worker = start_nas("worker", "--threads", "1", env=every, log=pooled.logs / "first.log")
    wait_until(lambda: (query(pooled.direct, "SELECT max(generation) FROM nas.checkpoints")[0][0]
                        or 0) >= 4, 300, what="a checkpoint at generation 4")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=120) == 0
    [(saved,)] = query(pooled.direct, "SELECT generation FROM nas.checkpoints")
    out = nas("worker", "--threads", "1", env=pooled.env)
    assert out.returncode == 0, out.stderr
    assert query(pooled.direct, "SELECT number, state, preempted, resumed_from FROM nas.trials "
                                "ORDER BY number") == [(0, "FAIL", True, None), (1, "COMPLETE", False, saved + 1)]
    assert_same_as_uninterrupted(pooled.direct, "ckpt", 1)
    assert query(pooled.direct, "SELECT count(*) FROM nas.checkpoints") == [(0,)]


def test_concurrent_creators_of_one_study_through_pgbouncer(pooled):
    """Schema upgrade and study creation serialise on transaction-level advisory locks:
    two at once through the pooler make one schema, one study, and both succeed."""
    args = ["study", "create", "same", *PACED, "-n", "3", "-g", "2"]
    procs = [subprocess.Popen([sys.executable, "-m", "nas", *args], env=pooled.env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    assert query(pooled.direct, "SELECT count(*) FROM nas.studies") == [(1,)]
    assert query(pooled.direct, "SELECT count(*) FROM studies WHERE study_name = 'same'") == [(1,)]
    assert trial_states(pooled.direct, "same") == {}


def test_a_pooler_refusing_startup_options_fails_in_one_line_not_after_retries(pg, pooled, tmp_path):
    strict = Bouncer(traversable(tmp_path) / "strict", pg.port, {PASSWORD_USER: PASSWORD},
                     overrides={"ignore_startup_parameters": "extra_float_digits"}).start()
    try:
        env = {**pooled.env, "NAS_DATABASE_URL": strict.url(PASSWORD_USER, pooled.db)}
        started = time.monotonic()
        out = nas("worker", "--threads", "1", env=env, timeout=120)
        assert time.monotonic() - started < 60  # not the 600 s outage retry
    finally:
        strict.stop()
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "unsupported startup parameter" in lines[0], out.stderr
    assert "ignore_startup_parameters" in lines[0] and PASSWORD not in out.stderr


def test_compose_pooler_profile(tmp_path):
    """`--profile pooler` adds pgbouncer (pinned image, our ini, password from the secret
    file) and NAS_WORKER_DB routes the workers through it; migrate stays direct."""
    import yaml

    secret = tmp_path / "db_password"
    secret.write_text("pw-" + uuid.uuid4().hex)
    env = {**os.environ, "NAS_DB_PASSWORD_FILE": str(secret), "NAS_WORKER_DB": "pgbouncer:6432"}
    compose = os.path.join(os.path.dirname(sys.executable), "docker-compose")
    out = subprocess.run([compose, "-f", str(ROOT / "docker-compose.yml"), "--profile", "pooler",
                          "config"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert secret.read_text() not in out.stdout
    services = yaml.safe_load(out.stdout)["services"]
    bouncer = services["pgbouncer"]
    assert bouncer["profiles"] == ["pooler"]
    assert bouncer["image"].startswith("edoburu/pgbouncer:v") and "latest" not in bouncer["image"]
    assert any(v["target"] == "/etc/pgbouncer/pgbouncer.ini" and v.get("read_only")
               for v in bouncer["volumes"])
    assert not bouncer.get("environment") and bouncer["secrets"][0]["source"] == "db_password"
    assert all(p["host_ip"] == "127.0.0.1" for p in bouncer["ports"])
    assert "@pgbouncer:6432/" in services["worker"]["environment"]["NAS_DATABASE_URL"]
    assert "@db:5432/" in services["migrate"]["environment"]["NAS_DATABASE_URL"]
    default = subprocess.run([compose, "-f", str(ROOT / "docker-compose.yml"), "config"],
                             env={**env, "NAS_WORKER_DB": ""}, capture_output=True, text=True, cwd=ROOT)
    assert default.returncode == 0, default.stderr
    services = yaml.safe_load(default.stdout)["services"]
    assert "pgbouncer" not in services
    assert "@db:5432/" in services["worker"]["environment"]["NAS_DATABASE_URL"]
