"""The files under $NAS_HOME: private to their owner, never printed, and a damaged or lost
one is a one-line error naming it and the fix, with nothing started behind the user's back.

Every test runs the real CLI against a real embedded cluster; "another local user" is
`nobody` (so those tests need root, as the suite's CI has)."""
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nas.store.embedded import EmbeddedDB
from nas.store.pg_cluster import process_alive
from nas.testing import nas, traversable, wait_until

AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="runs commands as `nobody`")


@pytest.fixture
def home(tmp_path):
    """A fresh NAS_HOME; whatever server a test left on it is stopped afterwards, even one
    whose postmaster.pid the test damaged."""
    home = traversable(tmp_path) / "home"
    yield home
    for pid in postmasters(home):
        os.kill(pid, signal.SIGINT)
        wait_until(lambda: not process_alive(pid), 60, what=f"postmaster {pid} to stop")


@pytest.fixture
def env(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAS_")}
    env["NAS_HOME"] = str(home)
    return env


def postmasters(home: Path) -> list[int]:
    """Live `postgres -D $NAS_HOME/pg` processes, found without trusting postmaster.pid."""
    want = str(home / "pg")
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if os.path.basename(argv[0]) == "postgres" and want in argv and process_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def one_line_error(out, *needles) -> str:
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def started(env) -> None:
    nas("db", "start", env=env, timeout=60, check=True)


def stopped(env) -> None:
    assert nas("db", "stop", env=env, timeout=60, check=True).stdout.strip() == "stopped"


# --- 1: no password in any output ----------------------------------------------------

def test_no_db_command_prints_a_password(env, home):
    outputs = [nas("db", "start", env=env, timeout=60, check=True)]
    for args in (["status"], ["url"], ["upgrade"], ["psql", "-Atc", "SELECT 1"], ["start"],
                 ["stop"], ["status"], ["stop"], ["url"], ["stop"]):
        outputs.append(nas("db", *args, env=env, timeout=60))
    assert outputs[1].returncode == 0 and "running (pid" in outputs[1].stdout
    passwords = [(home / "secrets" / role).read_text().strip()
                 for role in ("nas_admin", "nas_owner", "nas_reader")]
    texts = [out.stdout + out.stderr for out in outputs] + [(home / "pg.log").read_text()]
    for text in texts:
        for password in passwords:
            assert password not in text, text


# --- 2: the lock --------------------------------------------------------------------

@needs_root
def test_other_users_cannot_open_the_lock_and_an_old_one_is_tightened(env, home):
    home.mkdir()
    (home / "db.lock").touch()
    os.chmod(home / "db.lock", 0o644)  # as an older nas left it
    started(env)
    assert stat.S_IMODE((home / "db.lock").stat().st_mode) == 0o600
    probe = subprocess.run([*AS_NOBODY, sys.executable, "-c",
                            "import sys; open(sys.argv[1])", str(home / "db.lock")],
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode != 0 and "PermissionError" in probe.stderr, probe.stderr


HOLD = ("import fcntl, sys, time\n"
        "f = open(sys.argv[1], 'r')\n"
        "fcntl.flock(f, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(120)\n")


def test_a_held_lock_fails_every_command_within_the_bound_naming_the_holder(env, home):
    started(env)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(home / "db.lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        env["NAS_LOCK_TIMEOUT"] = "1.5"
        for args in (["db", "start"], ["db", "stop"], ["status"], ["study", "create", "x", "-n", "2"]):
            began = time.monotonic()
            out = nas(*args, env=env, timeout=60)
            assert time.monotonic() - began < 30
            one_line_error(out, "db.lock", f"pid {holder.pid}", "NAS_LOCK_TIMEOUT")
    finally:
        holder.kill()
        holder.wait()
    del env["NAS_LOCK_TIMEOUT"]
    nas("db", "url", env=env, timeout=60, check=True)  # the holder gone, commands work again
    stopped(env)


def test_a_lock_timeout_that_is_not_a_number_is_one_line(env):
    one_line_error(nas("db", "start", env={**env, "NAS_LOCK_TIMEOUT": "soon"}, timeout=60),
                   "NAS_LOCK_TIMEOUT", "'soon'")


# --- 3: nothing under NAS_HOME readable by others -----------------------------------

READABLE = 'for f; do cat -- "$f" >/dev/null 2>&1 && echo "$f"; done; true'


def readable_by_nobody(home: Path) -> list[str]:
    files = [str(Path(d) / f) for d, _, names in os.walk(home) for f in names]
    assert files
    out = subprocess.run([*AS_NOBODY, "sh", "-c", READABLE, "sh", *files],
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.split()


@needs_root
def test_nobody_else_can_read_any_file_under_nas_home(env, home):
    started(env)
    nas("db", "url", env=env, timeout=60, check=True)  # writes the pgpass file too
    assert readable_by_nobody(home) == []
    for name in ("pg.log", "port", "db.lock"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE((home / "pg").stat().st_mode) == 0o700
    assert nas("db", "status", env=env, timeout=60).returncode == 0  # the server still logs


@needs_root
def test_files_an_older_nas_left_readable_are_made_private(env, home):
    started(env)
    stopped(env)
    for name in ("pg.log", "port", "db.lock"):
        os.chmod(home / name, 0o644)
    started(env)
    assert readable_by_nobody(home) == []


# --- 6: a lost or damaged file -------------------------------------------------------

def test_a_lost_admin_secret_is_named_at_once_and_starts_nothing(env, home):
    started(env)
    stopped(env)
    (home / "secrets" / "nas_admin").unlink()
    for args in (["db", "start"], ["study", "list"]):
        began = time.monotonic()
        one_line_error(nas(*args, env=env, timeout=60), str(home / "secrets" / "nas_admin"),
                       "restore it")
        assert time.monotonic() - began < 20  # not a 30 s wait for a server that cannot answer
        assert postmasters(home) == []
    assert not (home / "secrets" / "nas_admin").exists()


def test_a_lost_owner_secret_is_an_error_not_a_new_password(env, home):
    started(env)
    owner = home / "secrets" / "nas_owner"
    owner.unlink()
    one_line_error(nas("study", "list", env=env, timeout=60), str(owner), "restore it")
    assert not owner.exists()  # not silently re-created with a password the cluster lacks
    # Plain `db stop` cannot look for running workers without it, and says so.
    one_line_error(nas("db", "stop", env=env, timeout=60), str(owner), "--force")
    assert nas("db", "stop", "--force", env=env, timeout=60, check=True).stdout.strip() == "stopped"
    one_line_error(nas("db", "start", env=env, timeout=60), str(owner), "restore it")
    assert not owner.exists() and postmasters(home) == []


def test_a_damaged_port_file_is_named_and_left_alone(env, home):
    started(env)
    stopped(env)
    (home / "port").write_text("fifty\n")
    one_line_error(nas("db", "start", env=env, timeout=60), str(home / "port"), "delete it")
    assert (home / "port").read_text() == "fifty\n" and postmasters(home) == []


def test_a_damaged_pidfile_of_a_running_server_is_named_and_db_stop_still_stops_it(env, home):
    started(env)
    pidfile = home / "pg" / "postmaster.pid"
    pid = int(pidfile.read_text().splitlines()[0])
    pidfile.write_text("garbage\n")
    for args in (["db", "status"], ["db", "start"], ["study", "list"]):
        one_line_error(nas(*args, env=env, timeout=60), str(pidfile), f"pid {pid}", "nas db stop")
    assert process_alive(pid)  # nothing second was started beside it
    assert postmasters(home) == [pid]
    assert nas("db", "stop", env=env, timeout=60, check=True).stdout.strip() == "stopped"
    assert not process_alive(pid) and not pidfile.exists()
    started(env)
    assert "running" in nas("db", "status", env=env, timeout=60, check=True).stdout


def test_a_damaged_pidfile_without_a_server_is_named(env, home):
    started(env)
    stopped(env)
    pidfile = home / "pg" / "postmaster.pid"
    pidfile.write_text("garbage\n")
    for args in (["db", "status"], ["db", "start"], ["db", "stop"]):
        one_line_error(nas(*args, env=env, timeout=60), str(pidfile), "delete that file")
    assert postmasters(home) == [] and pidfile.read_text() == "garbage\n"


# --- 9: db stop under running workers ------------------------------------------------

def test_db_stop_refuses_while_a_worker_runs_a_trial(env, home):
    from nas.store import Store
    from nas.store.workers import WorkerState

    nas("study", "create", "busy", "-n", "3", env=env, timeout=120, check=True)
    store = Store(EmbeddedDB(home).start())  # running already: this only reads its URL
    try:
        study = store.require_study("busy")
        worker = store.register_worker(os.getpid(), 1, "test")
        assert store.claim([study.id], worker) is not None
        store.worker_seen(worker, WorkerState.BUSY, study.id, None)
        idle = store.register_worker(os.getpid(), 1, "test")  # live but idle: counted, not busy
        store.worker_seen(idle, WorkerState.IDLE)
    finally:
        store.dispose()
    one_line_error(nas("db", "stop", env=env, timeout=60),
                   "2 live workers", "1 of them running a trial", "--force")
    assert "running" in nas("db", "status", env=env, timeout=60, check=True).stdout
    assert nas("db", "stop", "--force", env=env, timeout=60, check=True).stdout.strip() == "stopped"
