"""A private pgbouncer for tests and benches: the settings nas ships
(deploy/pgbouncer/pgbouncer.ini) on a port of its own, in front of one PostgreSQL server.

Only what cannot be shared with compose is replaced: where it listens, where the server
is, the auth file, the log; `overrides` changes anything else (a smaller pool, say, to
force many clients onto few server connections). pgbouncer refuses to run as root, so as
root it runs as `postgres`, like the test clusters (nas.store.embedded).
"""
from __future__ import annotations

import configparser
import os
import pwd
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

from nas.store.pg_cluster import free_port

SHIPPED = Path(__file__).resolve().parent.parent / "deploy" / "pgbouncer" / "pgbouncer.ini"
# key=value or key='value with spaces' in a [databases] connection string
_CONNSTRING = re.compile(r"(\w+)=('(?:[^']|'')*'|\S+)")


def shipped() -> tuple[dict[str, str], dict[str, str]]:
    """The shipped ini's ([databases], [pgbouncer]) sections, keys as written."""
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str
    parser.read(SHIPPED)
    return dict(parser["databases"]), dict(parser["pgbouncer"])


def connstring(line: str) -> dict[str, str]:
    return dict(_CONNSTRING.findall(line))


@dataclass
class Bouncer:
    workdir: Path
    server_port: int
    users: dict[str, str]                       # the auth file: user -> password
    overrides: dict[str, str] = field(default_factory=dict)
    port: int | None = None
    process: subprocess.Popen | None = None

    @property
    def logfile(self) -> Path:
        return self.workdir / "pgbouncer.log"

    def url(self, user: str, dbname: str) -> str:
        """A URL without the password (nas takes it from NAS_DATABASE_PASSWORD_FILE)."""
        return f"postgresql+psycopg2://{user}@127.0.0.1:{self.port}/{dbname}"

    def write_config(self) -> Path:
        databases, settings = shipped()
        # the shipped [databases] entry, pointed at our server; `*`: any database name
        server = {k: v for k, v in connstring(databases["nas"]).items() if k != "dbname"}
        server.update(host="127.0.0.1", port=str(self.server_port))
        settings.update(listen_addr="127.0.0.1", listen_port=str(self.port), unix_socket_dir="",
                        auth_file=str(self.workdir / "userlist.txt"), logfile=str(self.logfile),
                        **self.overrides)
        users = "".join(f'"{u}" "{p}"\n' for u, p in self.users.items())
        ini = "[databases]\n* = " + " ".join(f"{k}={v}" for k, v in server.items()) + "\n\n"
        ini += "[pgbouncer]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items())
        path = self.workdir / "pgbouncer.ini"
        self._private(self.workdir / "userlist.txt", users)
        self._private(path, ini)
        return path

    def _private(self, path: Path, text: str) -> None:
        path.write_text(text)
        os.chmod(path, 0o600)
        account = _run_as()
        if account is not None:
            os.chown(path, account.pw_uid, account.pw_gid)

    def start(self, timeout: float = 15.0) -> "Bouncer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        account = _run_as()
        if account is not None:
            os.chown(self.workdir, account.pw_uid, account.pw_gid)
        self.port = self.port or free_port()
        argv = [shutil.which("pgbouncer") or "pgbouncer", str(self.write_config())]
        if account is not None:
            argv = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self._listening():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.logfile.read_text().strip().splitlines()[-3:] if self.logfile.exists() else []
                raise RuntimeError(f"pgbouncer did not start on port {self.port}: {' | '.join(tail)}")
            time.sleep(0.05)
        return self

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def console(self, user: str, command: str) -> list[dict]:
        """A command on pgbouncer's admin console (SHOW CLIENTS, SHOW SERVERS), as rows."""
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=user, dbname="pgbouncer",
                                password=self.users[user])
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(command)
                names = [c.name for c in cur.description]
                return [dict(zip(names, row)) for row in cur.fetchall()]
        finally:
            conn.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _run_as() -> pwd.struct_passwd | None:
    """pgbouncer will not run as root: then it runs as `postgres`."""
    return pwd.getpwnam("postgres") if os.geteuid() == 0 else None
