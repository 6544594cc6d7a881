"""Fixtures: one real PostgreSQL server per test session (started with nas's own
embedded-cluster code, as a child process), and a fresh database per test."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2
import pytest

from nas.store.embedded import Cluster

ROOT = Path(__file__).resolve().parent.parent
PASSWORD_USER, PASSWORD = "pw_user", "s3cret-pw"


def traversable(path: Path) -> Path:
    """Let the `postgres` user reach `path` when the suite runs as root."""
    for parent in [path, *path.parents]:
        if str(parent) in ("/", "/tmp"):
            break
        os.chmod(parent, os.stat(parent).st_mode | 0o055)
    return path


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels():
    """The CPU kernels compiled into this user's cache once, up front (~80 s on a fresh
    machine, under a second after): every worker the tests start then loads them, so no
    test's timing includes a compile."""
    subprocess.run([sys.executable, "-m", "nas.evolution.kernels"], check=True, cwd=ROOT,
                   capture_output=True, timeout=600)


@pytest.fixture(scope="session")
def pg(tmp_path_factory):
    cluster = Cluster(traversable(tmp_path_factory.mktemp("pg")) / "data",
                      settings={"fsync": "off", "full_page_writes": "off", "max_connections": "200"},
                      hba_extra=[f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256"])
    cluster.start()
    admin(cluster, f"CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD '{PASSWORD}' CREATEDB")
    yield cluster
    cluster.stop()


def admin(cluster: Cluster, sql: str, dbname: str = "postgres") -> None:
    conn = psycopg2.connect(host="127.0.0.1", port=cluster.port, user="nas_admin", dbname=dbname)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


@pytest.fixture
def db_url(pg) -> str:
    """A fresh, empty database on the session's server."""
    name = "t_" + uuid.uuid4().hex[:12]
    admin(pg, f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg2://nas_admin@127.0.0.1:{pg.port}/{name}"


@pytest.fixture
def nas_env(tmp_path, db_url) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAS_")}
    env.update({"NAS_DATABASE_URL": db_url, "NAS_HOME": str(traversable(tmp_path) / "home"),
                "PYTHONUNBUFFERED": "1"})
    return env


def nas(*args: str, env: dict[str, str], timeout: float = 300, check: bool = False):
    """Run the real `nas` CLI in a subprocess."""
    out = subprocess.run([sys.executable, "-m", "nas", *args], env=env, capture_output=True,
                         text=True, timeout=timeout, cwd=ROOT)
    if check and out.returncode != 0:
        raise AssertionError(f"nas {' '.join(args)} exited {out.returncode}:\n{out.stderr}")
    return out


def start_nas(*args: str, env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
    sink = open(log, "ab") if log else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", "nas", *args], env=env, cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)


def wait_until(condition, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll `condition` until it returns a truthy value or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def query(url: str, sql: str, **params):
    import sqlalchemy as sa

    from nas.store.session import engine_for

    with engine_for(url).begin() as conn:
        result = conn.execute(sa.text(sql), params)
        return result.all() if result.returns_rows else result.rowcount


SMALL = ["-m", "pure", "-t", "cartpole", "-g", "3", "-s", "1", "-p", "20", "--sampler", "random",
         "--pruner", "none"]


def trial_states(url: str, study: str) -> dict[str, int]:
    """Trial counts per Optuna state for one study ({} before the tables exist)."""
    if query(url, "SELECT to_regclass('public.trials')") == [(None,)]:
        return {}
    rows = query(url, "SELECT t.state::text, count(*) FROM trials t JOIN studies s "
                      "USING (study_id) WHERE s.study_name = :n GROUP BY 1", n=study)
    return dict(rows)
