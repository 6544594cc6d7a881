"""A PostgreSQL cluster run with the machine's own server binaries: a data directory, the
server process that serves it, and the few process and file helpers both of its users need
(`nas.store.embedded`, the long-lived cluster under `$NAS_HOME`; `nas.testing`, the
suite's throwaway ones).

As root the server runs as the `postgres` user through `setpriv`, which execs its command
(so signals reach it; `runuser` forks and did not pass SIGINT on). It listens on 127.0.0.1
only, TCP only, on a free port. With `secrets` it authenticates with scram-sha-256 and
hands out the non-superuser owner role; without, it trusts 127.0.0.1 (the test suite's).
"""
from __future__ import annotations

from __future__ import annotations
import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
import psutil
import psycopg2
from nas.errors import NasError
from nas.store.cluster_secrets import ADMIN, OWNER, READER, ClusterSecrets
from nas.store.errors import describe, is_permanent

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


def make_private(fd_or_path, mode: int = 0o600) -> None:
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
    make_private(fd)
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
