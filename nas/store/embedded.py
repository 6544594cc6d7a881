"""A private PostgreSQL cluster, run with the machine's own server binaries.

Two users of this module: `nas db start` (and any command that needs a database and
was given no URL) keeps one long-lived cluster under `$NAS_HOME`; the test suite starts
throwaway clusters as child processes so it can kill -9, reap and restart them (their
crash helpers live in nas.testing, not here).

The long-lived one is supervised by PostgreSQL's own `pg_ctl` (start -w, stop -m fast,
status; nas.store.pg_ctl); the throwaway ones are spawned directly (nas.testing). As root
both run as the `postgres` user through `setpriv`, which execs its command (so signals
reach it; `runuser` forks and did not pass SIGINT on). Both kinds listen on 127.0.0.1
only, TCP only, on a free port. The long-lived one authenticates with scram-sha-256
(generated passwords under `$NAS_HOME/secrets`, nas.store.cluster_secrets) and hands out
the non-superuser owner role; the suite's throwaway servers use `trust`.

Nothing under `$NAS_HOME` is for other users: the lock, the port file and the server log
are 0600 (the log holds STATEMENT lines with trial data), the secrets and the data 0700.
`$NAS_HOME` itself keeps its mode: as root, `postgres` must reach the cluster under it.
A damaged or missing file there is a one-line error naming it and the fix; nas neither
starts a server nor rewrites the file behind the user's back.
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

import psutil
import psycopg2

from nas import defaults, paths
from nas.errors import NasError
from nas.store.cluster_secrets import ADMIN, OWNER, READER, ClusterSecrets
from nas.store.errors import describe, is_permanent
from nas.store.pg_ctl import PgCtl, PgCtlError
from nas.store.url import mask_text

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
    zombie, which `kill(pid, 0)` (and so `pg_ctl status`) still finds but which serves nobody."""
    try:
        return psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # another user's process (the server runs as `postgres`): it exists


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


def as_server_user(argv: list[str]) -> list[str]:
    if _server_user() is None:
        return argv
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]


def _make_private(fd_or_path, mode: int = 0o600) -> None:
    """chmod to `mode` when the file is ours: a file an older nas made 0644 is tightened
    by the next command its owner runs. Another user's file is left alone (not ours to
    change, and opening it already failed or succeeded on its own terms)."""
    try:
        st = os.stat(fd_or_path)
        if st.st_uid == os.geteuid():
            os.chmod(fd_or_path, mode)
    except FileNotFoundError:
        pass


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_APPEND) -> int:
    """os.open, creating the file 0600 (and tightening an existing one we own)."""
    fd = os.open(path, flags, 0o600)
    _make_private(fd)
    return fd


@dataclass
class Cluster:
    """One data directory and the server process that serves it."""

    datadir: Path
    settings: dict[str, str] = field(default_factory=dict)
    hba_extra: list[str] = field(default_factory=list)
    port: int | None = None
    # The server process: a psutil.Process once EmbeddedDB started it, a Popen in nas.testing.
    process: object | None = None
    # None: `trust` on 127.0.0.1 (the test suite's throwaway servers); else scram-sha-256
    # with these generated passwords, and nas_owner (not a superuser) in the URL.
    secrets: ClusterSecrets | None = None

    @property
    def url(self) -> str:
        if self.secrets is None:
            return f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}"
        return (f"postgresql://{OWNER}:{self.secrets.password(OWNER)}@127.0.0.1:"
                f"{self.port}/{DB_NAME}")

    @property
    def masked_url(self) -> str:
        """The URL for people, built without reading the password at all."""
        if self.secrets is None:
            return self.url
        return f"postgresql://{OWNER}:***@127.0.0.1:{self.port}/{DB_NAME}"

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
        if self.secrets is not None:
            self.secrets.generate()  # the one place passwords are made: a new cluster
        cmd = [str(bindir / "initdb"), "-D", str(self.datadir), "-U", DB_USER,
               "-E", "UTF8", "--locale=C", "--no-sync"]
        method = "trust" if self.secrets is None else "scram-sha-256"
        with self._pwfile() as pwfile:
            cmd += ["-A", method] + ([f"--pwfile={pwfile}"] if pwfile else [])
            out = subprocess.run(as_server_user(cmd), capture_output=True, text=True)
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
            probe = subprocess.run(as_server_user(["test", "-w", str(self.datadir)]))
            if probe.returncode != 0:
                raise NasError(
                    f"the postgres user cannot write {self.datadir}: "
                    "set NAS_HOME to a directory it can reach (e.g. /tmp/nas)")
        os.chmod(self.datadir, 0o700)

    def server_args(self) -> list[str]:
        """The server's options: our port, TCP on 127.0.0.1 only (no Unix socket), our settings."""
        args = ["-p", str(self.port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="]
        for key, value in self.settings.items():
            args += ["-c", f"{key}={value}"]
        return args

    def wait_ready(self, timeout: float = 30.0, exited=lambda: False) -> None:
        """Until a connection succeeds (a server in crash recovery refuses them for a while);
        `exited()` says the server is gone, so waiting is pointless."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if exited():
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
            raise NasError(f"PostgreSQL refused us: {describe(exc)}") from None
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
        """Create or update the role. The password goes to the server as a SCRAM verifier
        computed here, so a logged statement (an error's STATEMENT line) never holds it."""
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        verb = "ALTER" if cur.fetchone() else "CREATE"
        verifier = psycopg2.extensions.encrypt_password(
            self.secrets.password(role), role, scope=cur, algorithm="scram-sha-256")
        cur.execute(f"{verb} ROLE {role} LOGIN {options} PASSWORD %s", (verifier,))


class DamagedPidfile(NasError):
    """postmaster.pid exists but does not say which server runs: `pid` is the server
    found on our data directory without it (None when none runs)."""

    def __init__(self, message: str, pid: int | None):
        super().__init__(message)
        self.pid = pid


# PostgreSQL creates postmaster.pid and then writes it: a read in between sees it empty.
PIDFILE_SETTLE = 2.0


class EmbeddedDB:
    """The long-lived cluster under `$NAS_HOME`, shared by every `nas` command there."""

    def __init__(self, home: Path | str | None = None):
        self.home = Path(home).absolute() if home else paths.home()
        self.cluster = Cluster(self.home / "pg", settings={"max_connections": "300"})
        self._pg_ctl: PgCtl | None = None
        secrets = ClusterSecrets(self.home / "secrets")
        # A cluster made before authentication existed keeps `trust` (and nas_admin in its
        # URL) until it is re-created; every new one authenticates. Its pg_hba.conf says
        # which it is: a lost secret must not turn an authenticating cluster into "trust".
        if secrets.exists() or not self.cluster.initialized() or self._authenticates():
            self.cluster.secrets = secrets

    def _authenticates(self) -> bool:
        try:
            return "scram-sha-256" in (self.cluster.datadir / "pg_hba.conf").read_text()
        except OSError:
            return True  # cannot tell: ask for the passwords rather than go without

    @property
    def lockfile(self) -> Path:
        return self.home / "db.lock"

    @contextmanager
    def _lock(self):
        """Start and stop one at a time. The lock file is 0600, so no other user can open
        it to hold the lock (flock works on a read-only descriptor); the wait is bounded
        (`NAS_LOCK_TIMEOUT`) and its error names the holder; the holder writes its pid
        into the file for systems without /proc/locks."""
        timeout = defaults.lock_timeout()
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            fd = open_private(self.lockfile, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise NasError(f"NAS_HOME {self.home} is not writable: {exc.strerror}") from None
        with os.fdopen(fd, "r+") as handle:
            self._acquire(handle, timeout)
            handle.truncate(0)
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            try:
                yield
            finally:
                handle.truncate(0)

    def _acquire(self, handle, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise NasError(
                        f"{self.lockfile} is still held by {self._lock_holder(handle)} after "
                        f"{timeout:g}s: wait for it to finish, or stop it if it hangs "
                        f"({defaults.ENV_LOCK_TIMEOUT} sets the wait)") from None
                time.sleep(0.05)

    def _lock_holder(self, handle) -> str:
        """Who holds the lock: the kernel's word (/proc/locks) first, as it also knows a
        holder that is not nas; else the pid the holder wrote into the file."""
        st = os.fstat(handle.fileno())
        inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        pid = None
        try:
            for line in Path("/proc/locks").read_text().splitlines():
                fields = line.split()
                if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == inode:
                    pid = int(fields[4])
                    break
        except (OSError, ValueError):
            pass
        if pid is None:
            handle.seek(0)
            recorded = handle.read().strip()
            pid = int(recorded) if recorded.isdigit() else None
        if pid is None:
            return "another process"
        return f"pid {pid} ({_command_of(pid)})"

    @property
    def pg_ctl(self) -> PgCtl:
        """pg_ctl for our data directory (the server binaries are looked for once, here)."""
        if self._pg_ctl is None:
            self._pg_ctl = PgCtl(find_bindir(), self.cluster.datadir, as_server_user)
        return self._pg_ctl

    def running_pid(self) -> int | None:
        """The postmaster PID, if `pg_ctl status` finds it running and it is not a zombie
        (a killed postmaster its parent has not reaped, which pg_ctl counts as running).
        Raises DamagedPidfile when postmaster.pid cannot be read as PostgreSQL writes it."""
        if not self.cluster.initialized():
            return None
        try:
            if self.pg_ctl.status() is None:
                return None
        except PgCtlError:
            pass  # a postmaster.pid pg_ctl cannot read: diagnosed below
        found = self._read_pidfile()
        if found is None:
            return None
        pid, port = found
        if not process_alive(pid):
            return None
        self.cluster.port = port
        return pid

    def server_pid(self) -> int | None:
        """running_pid(), except that a server still running on our data behind a damaged
        postmaster.pid is found all the same (its port from the port file), so that
        `nas db stop` can stop it; raises only when no such server runs."""
        try:
            return self.running_pid()
        except DamagedPidfile as exc:
            if exc.pid is None:
                raise
            self.cluster.port = self._saved_port()
            return exc.pid

    @property
    def pidfile(self) -> Path:
        return self.cluster.datadir / "postmaster.pid"

    def _read_pidfile(self) -> tuple[int, int] | None:
        """(pid, port), or None when there is no postmaster.pid. The one place nas reads it:
        for the port (pg_ctl status says only the PID) and to name a damaged file."""
        deadline = time.monotonic() + PIDFILE_SETTLE
        while True:
            text = _read_text(self.pidfile)
            if text is None:
                return None
            lines = text.splitlines()
            try:
                return int(lines[0]), int(lines[3])
            except (ValueError, IndexError):
                if time.monotonic() >= deadline:
                    raise self._damaged() from None
            time.sleep(0.05)

    def _damaged(self) -> DamagedPidfile:
        pid = self._find_postmaster()
        if pid is None:
            return DamagedPidfile(
                f"{self.pidfile} is damaged and no PostgreSQL runs on {self.cluster.datadir}: "
                "delete that file, then run `nas db start`", None)
        return DamagedPidfile(
            f"{self.pidfile} is damaged while PostgreSQL still runs on this data (pid {pid}): "
            "run `nas db stop` (the server removes the file as it stops), then `nas db start`",
            pid)

    def _find_postmaster(self) -> int | None:
        """The live server on our data directory, found without postmaster.pid: nas starts
        it as `postgres -D <datadir> ...` (its backends rename themselves)."""
        want = os.path.realpath(self.cluster.datadir)
        for proc in psutil.process_iter(["cmdline"]):
            args = proc.info["cmdline"] or []  # None: another user's, unreadable, or gone
            if not args or os.path.basename(args[0]) != "postgres" or "-D" not in args[:-1]:
                continue
            datadir = args[args.index("-D") + 1]
            if os.path.realpath(datadir) == want and process_alive(proc.pid):
                return proc.pid
        return None

    def _clear_stale_pidfile(self) -> None:
        """PostgreSQL refuses to start while postmaster.pid names a process that exists,
        and a killed postmaster nobody reaped (a zombie) still exists. It is dead and so
        are its backends (they die with it or hold the shared memory, which PostgreSQL
        checks on its own), so its lock file can go."""
        found = self._read_pidfile()
        if found is not None and not process_alive(found[0]):
            self.pidfile.unlink(missing_ok=True)

    def url(self) -> str | None:
        return self.cluster.url if self.running_pid() else None

    @property
    def portfile(self) -> Path:
        return self.home / "port"

    def _saved_port(self) -> int | None:
        """The port of the last start (so the URL stays the same), or None the first time."""
        text = _read_text(self.portfile)
        if text is None:
            return None
        text = text.strip()
        if text.isdigit() and 0 < int(text) < 65536:
            return int(text)
        raise NasError(f"{self.portfile} is damaged (not a port number): delete it and nas "
                       "picks a free port at the next start (the URL's port may change)")

    def _tighten(self) -> None:
        """Make files an older nas left readable private (see the module docstring)."""
        _make_private(self.portfile)
        _make_private(self.cluster.logfile)
        if self.cluster.secrets is not None:
            _make_private(self.cluster.secrets.folder, 0o700)

    def start(self) -> str:
        """Start on demand (idempotent); the URL stays the same across restarts when it can.
        Every file it needs is checked first, so a damaged one starts nothing."""
        with self._lock():
            self._tighten()
            if self.cluster.secrets is not None and self.cluster.initialized():
                self.cluster.secrets.check()
            if self.running_pid():
                self.cluster.wait_ready()
                self._write_pgpass()
                return self.cluster.url
            self._clear_stale_pidfile()
            port = self._saved_port()
            if port is None or not port_is_free(port):
                port = free_port()
            url = self._start_server(port)
            with os.fdopen(open_private(self.portfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                           "w") as out:
                out.write(str(port))
            self._write_pgpass()
            return url

    def _start_server(self, port: int, timeout: float = 30.0) -> str:
        """initdb if needed, `pg_ctl start -w`, create the `nas` database; returns the URL.
        A start that fails stops the server it started: the caller was told it failed, so
        nothing of it may be left running."""
        cluster = self.cluster
        cluster.init()
        cluster.port = port
        # Opened here and handed over as stdout: the server (as root: `postgres`) writes
        # through this descriptor, so the file can stay ours and 0600.
        log = open_private(cluster.logfile)
        try:
            self.pg_ctl.start(cluster.server_args(), log, timeout)
        except PgCtlError as exc:
            self._stop_quietly()
            if "did not start in time" in str(exc):
                raise NasError(f"PostgreSQL did not accept connections within {timeout:.0f}s; "
                               f"see {cluster.logfile}") from None
            raise NasError(f"PostgreSQL exited at start; see {cluster.logfile}") from None
        finally:
            os.close(log)
        try:
            pid = self.pg_ctl.status()
            cluster.process = None if pid is None else psutil.Process(pid)
            cluster.wait_ready(timeout, exited=lambda: not self._serving(cluster.process))
            cluster.ensure_database()
        except BaseException:
            self._stop_quietly()
            raise
        return cluster.url

    @staticmethod
    def _serving(process) -> bool:
        return process is not None and process_alive(process.pid)

    def _stop_quietly(self) -> None:
        try:
            self.pg_ctl.stop(timeout=60)
        except (PgCtlError, subprocess.TimeoutExpired):
            pass  # not started after all, or the start's own error says more

    def _write_pgpass(self) -> None:
        if self.cluster.secrets is not None:
            self.cluster.secrets.write_pgpass()

    def stop(self, timeout: float = 30.0) -> bool:
        """Fast shutdown (`pg_ctl stop -m fast`); False when no server runs. A server whose
        postmaster.pid is damaged is found by its command line and stopped all the same."""
        with self._lock():
            try:
                pid = self.running_pid()
            except DamagedPidfile as exc:
                if exc.pid is None:
                    raise
                return self._stop_by_signal(exc.pid, timeout)
            if pid is None:
                return False
            try:
                self.pg_ctl.stop(timeout)
            except PgCtlError as exc:
                if self.running_pid() is None:
                    return True  # it stopped on its own meanwhile
                raise NasError(f"PostgreSQL (pid {pid}) did not stop within {timeout:.0f}s: "
                               f"{exc}") from None
            self._reap()
            return True

    def _reap(self) -> None:
        """Wait for the server this object started (our child: see nas.store.pg_ctl), so a
        long-lived caller keeps no zombie of it."""
        if self.cluster.process is None:
            return
        try:
            self.cluster.process.wait(timeout=60)
        except (psutil.Error, psutil.TimeoutExpired):
            pass
        self.cluster.process = None

    def _stop_by_signal(self, pid: int, timeout: float) -> bool:
        """pg_ctl cannot stop a server behind a damaged postmaster.pid: SIGINT is the fast
        shutdown pg_ctl would have asked for."""
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process_alive(pid):
            time.sleep(0.05)
        if process_alive(pid):
            raise NasError(f"PostgreSQL (pid {pid}) did not stop within {timeout:.0f}s")
        return True


def _command_of(pid: int) -> str:
    """A process's command line for a message: shortened, any URL password masked."""
    try:
        text = " ".join(arg for arg in psutil.Process(pid).cmdline() if arg)
    except psutil.Error:
        return "command unknown"
    text = " ".join(mask_text(text).split()) or "command unknown"  # one line, always
    return text if len(text) <= 100 else text[:97] + "..."


def _read_text(path: Path) -> str | None:
    """A file under $NAS_HOME, or None when it is not there; unreadable is one line."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise NasError(f"cannot read {path}: {exc.strerror}") from None
