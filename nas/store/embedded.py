"""A private PostgreSQL cluster, run with the machine's own server binaries.

Two users of this module: `nas db start` (and any command that needs a database and
was given no URL) keeps one long-lived cluster under `$NAS_HOME`; the test suite starts
throwaway clusters as child processes so it can kill -9, reap and restart them.

As root the server runs as the `postgres` user through `setpriv`, which execs the
server (so the child PID *is* the postmaster and signals reach it); `runuser` forks
and did not pass SIGINT on. Both kinds listen on 127.0.0.1 only, TCP only, on a free
port. The long-lived one authenticates with scram-sha-256 (generated passwords under
`$NAS_HOME/secrets`, nas.store.cluster_secrets) and hands out the non-superuser owner
role; the suite's throwaway servers use `trust`.
"""
from __future__ import annotations

import fcntl
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

from nas import defaults
from nas.errors import NasError
from nas.store.cluster_secrets import ADMIN, OWNER, READER, ClusterSecrets
from nas.store.session import is_permanent

DB_NAME = "nas"
DB_USER = "nas_admin"  # not "nas": "$user" in search_path would resolve to the nas schema
INSTALL_HINT = (
    "no PostgreSQL server binaries found: install them (Debian/Ubuntu: "
    "apt-get install postgresql) or set NAS_DATABASE_URL to an existing server"
)


def find_bindir() -> Path:
    """Locate `postgres`/`initdb`: PATH, then `pg_config --bindir`, then Debian's layout."""
    on_path = shutil.which("postgres")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for cand in candidates:
        if cand and (Path(cand) / "postgres").exists() and (Path(cand) / "initdb").exists():
            return Path(cand)
    raise NasError(INSTALL_HINT)


def process_alive(pid: int) -> bool:
    """Running, not merely present: a killed postmaster its parent has not reaped yet is a
    zombie, which `kill(pid, 0)` still finds but which serves nobody."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process (the server runs as `postgres`): it exists
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: trust kill(pid, 0)
    state = stat[stat.rindex(")") + 2:].split()[0]
    return state not in ("Z", "X")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the server binds: a just-closed port in TIME_WAIT is free to it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root; None means 'as ourselves'."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise NasError("running as root needs a 'postgres' system user to run the server") from None


def _as_server_user(argv: list[str]) -> list[str]:
    if _server_user() is None:
        return argv
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]


@dataclass
class Cluster:
    """One data directory and the server process that serves it."""

    datadir: Path
    settings: dict[str, str] = field(default_factory=dict)
    hba_extra: list[str] = field(default_factory=list)
    port: int | None = None
    process: subprocess.Popen | None = None
    # None: `trust` on 127.0.0.1 (the test suite's throwaway servers); else scram-sha-256
    # with these generated passwords, and nas_owner (not a superuser) in the URL.
    secrets: ClusterSecrets | None = None

    @property
    def url(self) -> str:
        if self.secrets is None:
            return f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}"
        return (f"postgresql://{OWNER}:{self.secrets.password(OWNER)}@127.0.0.1:"
                f"{self.port}/{DB_NAME}")

    def _admin(self, dbname: str = "postgres", **kwargs):
        password = None if self.secrets is None else self.secrets.password(ADMIN)
        return psycopg2.connect(host="127.0.0.1", port=self.port, user=DB_USER, dbname=dbname,
                                password=password, **kwargs)

    @property
    def logfile(self) -> Path:
        return self.datadir.parent / f"{self.datadir.name}.log"

    def initialized(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def init(self) -> None:
        """initdb once; later calls keep the existing data."""
        if self.initialized():
            return
        bindir = find_bindir()
        self._make_datadir()
        cmd = [str(bindir / "initdb"), "-D", str(self.datadir), "-U", DB_USER,
               "-E", "UTF8", "--locale=C", "--no-sync"]
        method = "trust" if self.secrets is None else "scram-sha-256"
        with self._pwfile() as pwfile:
            cmd += ["-A", method] + ([f"--pwfile={pwfile}"] if pwfile else [])
            out = subprocess.run(_as_server_user(cmd), capture_output=True, text=True)
        if out.returncode != 0:
            tail = (out.stderr or out.stdout).strip().splitlines()[-1:]
            raise NasError(f"initdb failed in {self.datadir}: {' '.join(tail)}")
        hba = [f"host all all 127.0.0.1/32 {method}"]
        (self.datadir / "pg_hba.conf").write_text("\n".join([*self.hba_extra, *hba]) + "\n")

    @contextmanager
    def _pwfile(self):
        if self.secrets is None:
            yield None
            return
        user = _server_user()
        with self.secrets.pwfile(ADMIN, user and user.pw_uid, user and user.pw_gid) as name:
            yield name

    def _make_datadir(self) -> None:
        try:
            self.datadir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NasError(f"cannot create {self.datadir}: {exc.strerror}") from None
        user = _server_user()
        if user is not None:
            os.chown(self.datadir, user.pw_uid, user.pw_gid)
            probe = subprocess.run(_as_server_user(["test", "-w", str(self.datadir)]))
            if probe.returncode != 0:
                raise NasError(
                    f"the postgres user cannot write {self.datadir}: "
                    "set NAS_HOME to a directory it can reach (e.g. /tmp/nas)")
        os.chmod(self.datadir, 0o700)

    def spawn(self, port: int | None = None) -> subprocess.Popen:
        """Start the server as our child, in its own session (so it may outlive us)."""
        self.port = port or self.port or free_port()
        argv = [str(find_bindir() / "postgres"), "-D", str(self.datadir), "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="]
        for key, value in self.settings.items():
            argv += ["-c", f"{key}={value}"]
        log = open(self.logfile, "ab")
        try:
            # Always its own process group: a crash test can kill the postmaster and its
            # backends together (a lone kill -9 of the postmaster leaves backends holding
            # shared memory, and the restart would refuse to start).
            self.process = subprocess.Popen(
                _as_server_user(argv), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        return self.process

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise NasError(f"PostgreSQL exited at start; see {self.logfile}")
            if self._connectable():
                return
            time.sleep(0.05)
        raise NasError(f"PostgreSQL did not accept connections within {timeout:.0f}s; see {self.logfile}")

    def _connectable(self) -> bool:
        try:
            self._admin(connect_timeout=1).close()
        except psycopg2.OperationalError as exc:
            if not is_permanent(exc):
                return False  # not up yet, recovering, or starting: keep waiting
            raise NasError(f"PostgreSQL refused us: {str(exc).strip().splitlines()[0]}") from None
        return True

    def ensure_database(self) -> None:
        conn = self._admin()
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                if self.secrets is not None:
                    for role, options in ((OWNER, "NOSUPERUSER NOCREATEDB NOCREATEROLE"),
                                          (READER, "NOSUPERUSER NOINHERIT")):
                        self._ensure_role(cur, role, options)
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
                if cur.fetchone() is None:
                    owner = "" if self.secrets is None else f" OWNER {OWNER}"
                    cur.execute(f'CREATE DATABASE "{DB_NAME}"{owner}')
        finally:
            conn.close()

    def _ensure_role(self, cur, role: str, options: str) -> None:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        verb = "ALTER" if cur.fetchone() else "CREATE"
        cur.execute(f"{verb} ROLE {role} LOGIN {options} PASSWORD %s",
                    (self.secrets.password(role),))

    def start(self, port: int | None = None, timeout: float = 30.0) -> str:
        """init + spawn + wait + create the `nas` database; returns the URL."""
        self.init()
        self.spawn(port)
        self.wait_ready(timeout)
        self.ensure_database()
        return self.url

    def crash(self) -> None:
        """kill -9 the server and every backend, then reap it: a power cut, for fault tests."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=60)

    def stop(self) -> None:
        """Fast shutdown (SIGINT): rolls back open transactions, then exits cleanly."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)


class EmbeddedDB:
    """The long-lived cluster under `$NAS_HOME`, shared by every `nas` command there."""

    def __init__(self, home: Path | str | None = None):
        self.home = Path(home).absolute() if home else defaults.home()
        self.cluster = Cluster(self.home / "pg", settings={"max_connections": "300"})
        secrets = ClusterSecrets(self.home / "secrets")
        # A cluster made before authentication existed keeps `trust` (and nas_admin in its
        # URL) until it is re-created; every new one authenticates.
        if secrets.exists() or not self.cluster.initialized():
            self.cluster.secrets = secrets

    @contextmanager
    def _lock(self):
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            handle = open(self.home / "db.lock", "w")
        except OSError as exc:
            raise NasError(f"NAS_HOME {self.home} is not writable: {exc.strerror}") from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def running_pid(self) -> int | None:
        """The postmaster PID from postmaster.pid, if that process is alive and serving."""
        pidfile = self.cluster.datadir / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        if not process_alive(pid):
            return None
        self.cluster.port = port
        return pid

    def _clear_stale_pidfile(self) -> None:
        """PostgreSQL refuses to start while postmaster.pid names a process that exists,
        and a killed postmaster nobody reaped (a zombie) still exists. It is dead and so
        are its backends (they die with it or hold the shared memory, which PostgreSQL
        checks on its own), so its lock file can go."""
        pidfile = self.cluster.datadir / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        if not process_alive(pid):
            pidfile.unlink(missing_ok=True)

    def url(self) -> str | None:
        return self.cluster.url if self.running_pid() else None

    def start(self) -> str:
        """Start on demand (idempotent); the URL stays the same across restarts when it can."""
        with self._lock():
            if self.running_pid():
                self.cluster.wait_ready()
                self._write_pgpass()
                return self.cluster.url
            self._clear_stale_pidfile()
            port_file = self.home / "port"
            port = int(port_file.read_text()) if port_file.exists() else None
            if port is None or not port_is_free(port):
                port = free_port()
            url = self.cluster.start(port=port)
            port_file.write_text(str(port))
            self._write_pgpass()
            return url

    def _write_pgpass(self) -> None:
        if self.cluster.secrets is not None:
            self.cluster.secrets.write_pgpass()

    def stop(self, timeout: float = 30.0) -> bool:
        with self._lock():
            pid = self.running_pid()
            if pid is None:
                return False
            os.kill(pid, signal.SIGINT)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.running_pid() == pid:
                time.sleep(0.05)
            if self.running_pid() == pid:
                raise NasError(f"PostgreSQL (pid {pid}) did not stop within {timeout:.0f}s")
            return True
