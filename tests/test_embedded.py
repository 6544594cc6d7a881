"""The embedded cluster under $NAS_HOME: start on demand, url, stop, restart keeps data."""
import os

import psycopg2

from conftest import nas, traversable
from nas.store.embedded import EmbeddedDB


def _env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAS_")}
    home = traversable(tmp_path) / "home"
    env["NAS_HOME"] = str(home)
    return env


def test_start_url_stop_start_keeps_data(tmp_path):
    env = _env(tmp_path)
    try:
        first = nas("db", "start", env=env, check=True).stdout.strip()
        assert first.startswith("postgresql://nas_admin@127.0.0.1:")
        assert nas("db", "url", env=env, check=True).stdout.strip() == first
        assert "running" in nas("db", "status", env=env, check=True).stdout
        with psycopg2.connect(first) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE keep (v int); INSERT INTO keep VALUES (42)")
        assert nas("db", "stop", env=env, check=True).stdout.strip() == "stopped"
        status = nas("db", "status", env=env)
        assert status.returncode == 3 and "not running" in status.stdout
        second = nas("db", "start", env=env, check=True).stdout.strip()
        assert second == first  # same port again when it is free
        with psycopg2.connect(second) as conn, conn.cursor() as cur:
            cur.execute("SELECT v FROM keep")
            assert cur.fetchall() == [(42,)]
    finally:
        EmbeddedDB(env["NAS_HOME"]).stop()


def test_any_database_command_starts_the_cluster_on_demand(tmp_path):
    env = _env(tmp_path)
    try:
        out = nas("study", "create", "on-demand", "-n", "2", env=env, check=True)
        assert "created study 'on-demand'" in out.stdout
        assert EmbeddedDB(env["NAS_HOME"]).running_pid() is not None
        listing = nas("study", "list", env=env, check=True).stdout
        assert "on-demand" in listing
    finally:
        EmbeddedDB(env["NAS_HOME"]).stop()


def test_unwritable_home_is_a_one_line_error(tmp_path):
    env = _env(tmp_path)
    env["NAS_HOME"] = "/proc/nas-home"
    out = nas("db", "start", env=env)
    assert out.returncode != 0
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("error: NAS_HOME")
