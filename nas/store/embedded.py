"""The long-lived private PostgreSQL cluster under `$NAS_HOME`, shared by every `nas`
command there (`nas db start`, and any command given no URL), run with the machine's own
server binaries (the cluster itself: nas.store.pg_cluster).

It is supervised by PostgreSQL's own `pg_ctl` (start -w, stop -m fast, status;
nas.store.pg_ctl), authenticates with scram-sha-256 (generated passwords under
`$NAS_HOME/secrets`, nas.store.cluster_secrets) and hands out the non-superuser owner role.
One lock file serializes the commands that start or stop it.

Nothing under `$NAS_HOME` is for other users: the lock, the port file and the server log
are 0600 (the log holds STATEMENT lines with trial data), the secrets and the data 0700.
`$NAS_HOME` itself keeps its mode: as root, `postgres` must reach the cluster under it.
A damaged or missing file there is a one-line error naming it and the fix; nas neither
starts a server nor rewrites the file behind the user's back.
"""
from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import psutil

from nas import defaults, paths
from nas.errors import NasError
from nas.store.cluster_secrets import ClusterSecrets
from nas.store.pg_cluster import (Cluster, as_server_user, find_bindir, free_port, make_private,
                                   open_private, port_is_free, process_alive)
from nas.store.pg_ctl import PgCtl, PgCtlError
from nas.store.url import mask_text

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
        make_private(self.portfile)
        make_private(self.cluster.logfile)
        if self.cluster.secrets is not None:
            make_private(self.cluster.secrets.folder, 0o700)

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
