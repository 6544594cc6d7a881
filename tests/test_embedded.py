"""The embedded cluster under $NAS_HOME: start on demand, url, stop, restart keeps data."""
import os

import psycopg2

from nas.store.embedded import EmbeddedDB
from nas.testing import nas, traversable


def _env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAS_")}
    home = traversable(tmp_path) / "home"
    env["NAS_HOME"] = str(home)
    return env


def test_start_url_stop_start_keeps_data(tmp_path):
    env = _env(tmp_path)
    try:
        printed = nas("db", "start", env=env, check=True).stdout.strip()
        assert printed.startswith("postgresql://nas_owner:***@127.0.0.1:")
        assert nas("db", "url", env=env, check=True).stdout.strip() == printed.replace(":***", "")
        assert "running" in nas("db", "status", env=env, check=True).stdout
        first = EmbeddedDB(env["NAS_HOME"]).start()  # the URL with its password, in-process
        with psycopg2.connect(first) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE keep (v int); INSERT INTO keep VALUES (42)")
        assert nas("db", "stop", env=env, check=True).stdout.strip() == "stopped"
        status = nas("db", "status", env=env)
        assert status.returncode == 3 and "not running" in status.stdout
        assert nas("db", "start", env=env, check=True).stdout.strip() == printed  # same port
        second = EmbeddedDB(env["NAS_HOME"]).start()
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


def test_a_killed_unreaped_postmaster_is_not_running(tmp_path):
    """kill -9 of the server whose parent has not reaped it (a zombie): `db status` says
    not running, and `db start` starts it again at once with the data kept."""
    import signal
    import time
    from pathlib import Path

    env = _env(tmp_path)
    emb = EmbeddedDB(env["NAS_HOME"])
    url = emb.start()  # the postmaster is this test's child: it stays a zombie until we wait
    postmaster = emb.cluster.process
    try:
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE keep (v int); INSERT INTO keep VALUES (7)")
        os.killpg(postmaster.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while " Z " not in Path(f"/proc/{postmaster.pid}/stat").read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        status = nas("db", "status", env=env, timeout=20)
        assert status.returncode == 3 and "not running" in status.stdout
        nas("db", "start", env=env, timeout=25, check=True)
        with psycopg2.connect(EmbeddedDB(env["NAS_HOME"]).start()) as conn, conn.cursor() as cur:
            cur.execute("SELECT v FROM keep")
            assert cur.fetchall() == [(7,)]
    finally:
        postmaster.wait()
        EmbeddedDB(env["NAS_HOME"]).stop()


def test_nobody_else_gets_in_and_the_owner_is_no_superuser(tmp_path):
    """Another OS account cannot connect as any role (scram, passwords 0600 in a 0700
    folder); the URL's role owns the data but cannot run programs as `postgres`."""
    import stat
    import subprocess
    from pathlib import Path

    env = _env(tmp_path)
    try:
        nas("db", "start", env=env, check=True)
        home = Path(env["NAS_HOME"])
        port = (home / "port").read_text()
        assert stat.S_IMODE((home / "secrets").stat().st_mode) == 0o700
        for role in ("nas_admin", "nas_owner", "nas_reader"):
            assert stat.S_IMODE((home / "secrets" / role).stat().st_mode) == 0o600
            out = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                  "psql", "-w", "-h", "127.0.0.1", "-p", port, "-U", role,
                                  "-d", "nas", "-c", "SELECT 1"], capture_output=True, text=True)
            assert out.returncode != 0 and "no password supplied" in out.stderr, out.stderr
        who = nas("db", "psql", "-At", "-c", "SELECT current_user, rolsuper, rolcreaterole FROM "
                  "pg_roles WHERE rolname = current_user", env=env, check=True).stdout.strip()
        assert who == "nas_owner|f|f"
        copy = nas("db", "psql", "-c", "COPY (SELECT 1) TO PROGRAM 'id'", env=env)
        assert copy.returncode != 0 and "must be superuser" in copy.stderr
    finally:
        EmbeddedDB(env["NAS_HOME"]).stop()


def test_nas_finds_the_project_database_from_a_subdirectory(tmp_path):
    """As git finds .git: no second cluster in ./.nas, and read-only commands never make one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAS_")}
    project = traversable(tmp_path) / "project"
    (project / "src" / "deep").mkdir(parents=True)
    fresh = tmp_path / "elsewhere"
    fresh.mkdir()
    import subprocess
    import sys

    def run(*args, cwd):
        return subprocess.run([sys.executable, "-m", "nas", *args], env=env, cwd=cwd,
                              capture_output=True, text=True, timeout=120)

    try:
        made = run("study", "create", "here", "-n", "2", cwd=project)
        assert made.returncode == 0, made.stderr
        assert f"created the embedded PostgreSQL cluster in {project / '.nas' / 'pg'}" in made.stderr
        listing = run("study", "list", cwd=project / "src" / "deep")
        assert listing.returncode == 0 and "here" in listing.stdout, listing.stderr
        assert not (project / "src" / "deep" / ".nas").exists()
        nothing = run("status", cwd=fresh)
        assert nothing.returncode == 1 and "no nas database here" in nothing.stderr
        assert len(nothing.stderr.strip().splitlines()) == 1 and not (fresh / ".nas").exists()
    finally:
        EmbeddedDB(project / ".nas").stop()


def test_the_printed_url_works_in_psql_optuna_and_sqlalchemy_as_printed(tmp_path):
    """`nas db url` + PGPASSFILE: the same string in psql, Optuna's Python API, the optuna
    CLI and plain SQLAlchemy (which maps postgresql:// to psycopg 3)."""
    import subprocess
    import sys
    from pathlib import Path

    import sqlalchemy as sa

    env = _env(tmp_path)
    try:
        nas("search", "tools", "-m", "pure", "-t", "cartpole", "-n", "2", "-g", "2", "-s", "1",
            "-p", "20", "-j", "1", env=env, check=True)
        out = nas("db", "url", env=env, check=True)
        url = out.stdout.strip()
        assert url.startswith("postgresql://nas_owner@127.0.0.1:") and "***" not in url
        pgpass = out.stderr.strip().rsplit("PGPASSFILE=", 1)[1]
        assert pgpass == str(Path(env["NAS_HOME"]) / "secrets" / "pgpass")
        tools = {**env, "PGPASSFILE": pgpass}
        psql = subprocess.run(["psql", url, "-Atc", "SELECT count(*) FROM nas.trials"],
                              env=tools, capture_output=True, text=True)
        assert psql.stdout.strip() == "2", psql.stderr
        cli = subprocess.run([str(Path(sys.executable).with_name("optuna")), "studies",
                              "--storage", url], env=tools, capture_output=True, text=True)
        assert cli.returncode == 0 and "tools" in cli.stdout, cli.stderr
        api = subprocess.run([sys.executable, "-c", "import optuna, sys; s = optuna.load_study("
                              "study_name='tools', storage=sys.argv[1]); print(len(s.trials))", url],
                             env=tools, capture_output=True, text=True)
        assert api.stdout.strip() == "2", api.stderr
        trials = _dashboard_trials(url, "tools", tools, tmp_path)
        assert len(trials) == 2
        attrs = {a["key"] for a in trials[0]["user_attrs"]}
        assert {"success_rate", "seeds"} <= attrs  # per-seed results visible in the dashboard
        os.environ["PGPASSFILE"] = pgpass
        try:
            engine = sa.create_engine(url)
            assert engine.dialect.driver == "psycopg"
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM nas.trials")).scalar() == 2
            engine.dispose()
        finally:
            del os.environ["PGPASSFILE"]
    finally:
        EmbeddedDB(env["NAS_HOME"]).stop()


def _dashboard_trials(url: str, study: str, env: dict, tmp_path) -> list[dict]:
    """Start optuna-dashboard on the printed URL and read a study's trials from its API."""
    import json
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    from nas.testing import wait_until
    from nas.store.pg_cluster import free_port

    port = free_port()
    log = open(tmp_path / "dashboard.log", "wb")
    server = subprocess.Popen([str(Path(sys.executable).with_name("optuna-dashboard")), url,
                               "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT)

    def get(path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return json.load(reply)

    def studies():
        try:
            return get("/api/studies")["study_summaries"]
        except OSError:
            assert server.poll() is None, (tmp_path / "dashboard.log").read_text()
            return None

    try:
        summaries = wait_until(studies, timeout=60, interval=0.3, what="optuna-dashboard to answer")
        study_id = next(s["study_id"] for s in summaries if s["study_name"] == study)
        return get(f"/api/studies/{study_id}?after=0")["trials"]
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
