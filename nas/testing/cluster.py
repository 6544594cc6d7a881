"""Throwaway PostgreSQL servers for tests and benches: children of the test process, so
that a fault test can kill -9 one (a power cut), reap it and start it again on its port.

They use `trust` on 127.0.0.1 (nothing secret lives in them) and the settings a test
asks for (fsync off: we test nas, not the disk)."""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path

from nas.store.embedded import Cluster

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
    """A server that may be crashed on purpose."""

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
