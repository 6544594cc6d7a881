"""Throwaway PostgreSQL servers for tests and benches: children of the test process, so
that a fault test can kill -9 one (a power cut), reap it and start it again on its port.

They use `trust` on 127.0.0.1 (nothing secret lives in them) and the settings a test
asks for (fsync off: we test nas, not the disk)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from nas.store.pg_cluster import Cluster, as_server_user, find_bindir, free_port, open_private

# A role that logs in with a password (scram-sha-256), for tests of URLs with secrets.
PASSWORD_USER, PASSWORD = "pw_user", "s3cret-pw"


def traversable(path: Path) -> Path:
    """Let the `postgres` user reach `path` when the suite runs as root."""
    for parent in [path, *path.parents]:
        if str(parent) in ("/", "/tmp"):
            break
        os.chmod(parent, os.stat(parent).st_mode | 0o055)
    return path


class ThrowawayCluster(Cluster):
    """A server spawned directly as our child (not through pg_ctl), in its own process
    group, so that it may be crashed on purpose and started again on the same port."""

    def spawn(self, port: int | None = None) -> subprocess.Popen:
        """Start the server as our child, in its own session (so it may outlive us)."""
        self.port = port or self.port or free_port()
        argv = [str(find_bindir() / "postgres"), "-D", str(self.datadir), *self.server_args()]
        log = os.fdopen(open_private(self.logfile), "ab")
        try:
            # Its own process group: crash() kills the postmaster and its backends together
            # (a lone kill -9 of the postmaster leaves backends holding shared memory, and
            # the restart would refuse to start).
            self.process = subprocess.Popen(
                as_server_user(argv), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        return self.process

    def wait_ready(self, timeout: float = 30.0, exited=None) -> None:
        super().wait_ready(timeout, exited or (lambda: self.process is not None
                                               and self.process.poll() is not None))

    def start(self, port: int | None = None, timeout: float = 30.0) -> str:
        """init + spawn + wait + create the `nas` database; returns the URL. A start that
        fails stops the server it spawned."""
        self.init()
        self.spawn(port)
        try:
            self.wait_ready(timeout)
            self.ensure_database()
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self) -> None:
        """Fast shutdown (SIGINT): rolls back open transactions, then exits cleanly."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)

    def crash(self) -> None:
        """kill -9 the server and every backend, then reap it: a power cut, for fault tests."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=60)


@contextmanager
def throwaway_postgres(**settings: str):
    """A private server for one benchmark run, in a fresh /tmp folder removed afterwards;
    yields its SQLAlchemy URL."""
    base = Path(tempfile.mkdtemp(prefix="nas-bench-", dir="/tmp"))
    os.chmod(base, 0o755)
    cluster = ThrowawayCluster(base / "data", settings={"fsync": "off", "max_connections": "300",
                                                        **settings})
    try:
        cluster.start()
        yield cluster.url.replace("postgresql://", "postgresql+psycopg2://")
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
