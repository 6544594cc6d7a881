"""PostgreSQL's own `pg_ctl` for the embedded cluster: `start -w`, `stop -m fast`, `status`.

pg_ctl supervises the server (it waits for readiness and for shutdown through the server's
own postmaster.pid) and never runs as root: as root it runs as the `postgres` user through
`setpriv`. The server's output goes to a descriptor nas opened (no `-l`: the log file stays
ours and 0600, the server writes through what it inherits).

pg_ctl forks the server and exits once it is ready; while it runs, the starting process is
the child subreaper (Linux), so the orphaned server is adopted by it rather than by init:
the server stays the starting process's child, as when nas spawned it directly (a
long-lived caller may wait for it; a killed one is that caller's zombie until it does).
"""
from __future__ import annotations

import ctypes
import re
import shlex
import subprocess
from contextlib import contextmanager
from pathlib import Path

from nas.errors import NasError

# pg_ctl status: 0 running, 3 not running, 4 no accessible data directory.
NOT_RUNNING = (3, 4)
PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37


class PgCtlError(NasError):
    """pg_ctl failed; the message is its own last line."""


class PgCtl:
    """pg_ctl for one data directory, run as the server's user (`as_server_user`)."""

    def __init__(self, bindir: Path, datadir: Path, as_server_user):
        self.bindir, self.datadir, self._as_server_user = bindir, datadir, as_server_user

    def _run(self, *args: str, timeout: float, **kwargs) -> subprocess.CompletedProcess:
        argv = self._as_server_user([str(self.bindir / "pg_ctl"), *args, "-D", str(self.datadir)])
        kwargs.setdefault("stdout", subprocess.PIPE)
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              timeout=timeout, **kwargs)

    def start(self, server_args: list[str], log_fd: int, timeout: float) -> None:
        """`pg_ctl start -w`: returns once the server accepts connections."""
        options = " ".join(shlex.quote(arg) for arg in server_args)
        with _adopting_orphans():
            out = self._run("start", "-w", "-s", "-t", str(max(1, round(timeout))), "-o", options,
                            stdout=log_fd, timeout=timeout + 30)
        if out.returncode != 0:
            raise PgCtlError(_last_line(out))

    def status(self) -> int | None:
        """The server's PID by `pg_ctl status`, None when none runs. A PID file pg_ctl cannot
        read (empty while the server writes it, or damaged) is a PgCtlError."""
        out = self._run("status", timeout=60)
        if out.returncode in NOT_RUNNING:
            return None
        found = re.search(r"\(PID: (\d+)\)", out.stdout)
        if out.returncode != 0 or found is None:
            raise PgCtlError(_last_line(out))
        return int(found.group(1))

    def stop(self, timeout: float) -> None:
        """`pg_ctl stop -m fast -w`: rolls back open transactions, returns once it is down."""
        out = self._run("stop", "-m", "fast", "-w", "-s", "-t", str(max(1, round(timeout))),
                        timeout=timeout + 30)
        if out.returncode != 0:
            raise PgCtlError(_last_line(out))


def _last_line(out: subprocess.CompletedProcess) -> str:
    said = ((out.stderr or "").strip() or (out.stdout or "").strip()).splitlines()
    return said[-1] if said else f"pg_ctl exited {out.returncode}"


@contextmanager
def _adopting_orphans():
    """Be the child subreaper for the duration (Linux; elsewhere a no-op), then restore."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        before = ctypes.c_int(0)
        if libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(before), 0, 0, 0) != 0:
            raise OSError
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        yield
        return
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, before.value, 0, 0, 0)
