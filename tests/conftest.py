"""Fixtures: one real PostgreSQL server per test session (a nas.testing ThrowawayCluster,
a child process), and a fresh database per test. The helpers the tests call (nas(),
query(), wait_until(), ...) live in nas.testing, shared with the benches."""
from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from nas.testing import PASSWORD, PASSWORD_USER, ROOT, ThrowawayCluster, admin, clean_env, traversable


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels():
    """The CPU kernels compiled into this user's cache once, up front (~80 s on a fresh
    machine, under a second after): every worker the tests start then loads them, so no
    test's timing includes a compile."""
    subprocess.run([sys.executable, "-m", "nas.evolution.kernels"], check=True, cwd=ROOT,
                   capture_output=True, timeout=600)


@pytest.fixture(scope="session")
def pg(tmp_path_factory):
    cluster = ThrowawayCluster(traversable(tmp_path_factory.mktemp("pg")) / "data",
                               settings={"fsync": "off", "full_page_writes": "off", "max_connections": "200"},
                               hba_extra=[f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256"])
    cluster.start()
    admin(cluster, f"CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD '{PASSWORD}' CREATEDB")
    yield cluster
    cluster.stop()


@pytest.fixture
def db_url(pg) -> str:
    """A fresh, empty database on the session's server."""
    name = "t_" + uuid.uuid4().hex[:12]
    admin(pg, f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg2://nas_admin@127.0.0.1:{pg.port}/{name}"


@pytest.fixture
def nas_env(tmp_path, db_url) -> dict[str, str]:
    return clean_env(NAS_DATABASE_URL=db_url, NAS_HOME=str(traversable(tmp_path) / "home"),
                     PYTHONUNBUFFERED="1")


@pytest.fixture
def private_pg(tmp_path):
    """A server of the test's own, which it may stop, crash and restart (outage tests)."""
    cluster = ThrowawayCluster(traversable(tmp_path) / "data", settings={"fsync": "off"})
    cluster.start()
    yield cluster
    cluster.crash()


# The suite's longest tests (tens of seconds each, mostly waiting on workers, heartbeats and
# outages), started first: with `--dist load` handing out tests one at a time, the longest
# go first and short ones fill the gaps, so no minute-long test starts last and runs alone.
LONGEST_FIRST = ("test_bench_smoke.py::test_bench_smoke[chaos]",
                 "test_bench_smoke.py::test_bench_smoke[scaling]",
                 "test_bench_smoke.py::test_bench_smoke[coordination]",
                 "test_faults_user_objective.py", "test_resume.py", "test_faults.py",
                 "test_pgbouncer.py", "test_bench_smoke.py", "test_workers.py", "test_deploy.py",
                 "test_views.py", "test_partition.py", "test_vanished_study.py", "test_report.py",
                 "test_many_studies.py", "test_studies.py", "test_gym.py",
                 "test_cli_errors.py::test_a_study_whose_trials_all_fail_at_once",
                 "test_user_task.py", "test_narrowed_space.py", "test_user_objective.py",
                 "test_progress.py", "test_home_files.py", "test_embedded.py",
                 "test_compare.py", "test_ties.py", "test_export.py")


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        path = item.nodeid.split("/", 1)[-1]
        return next((i for i, key in enumerate(LONGEST_FIRST) if path.startswith(key)),
                    len(LONGEST_FIRST))

    items.sort(key=rank)  # stable: within a rank, the collection order
