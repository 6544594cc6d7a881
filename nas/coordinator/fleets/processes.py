"""Worker processes on this machine: the ones `nas search -j J` follows, and the detached
ones of `nas workers up --via local` (PIDs kept in $NAS_HOME/workers.local).

Workers run in their own sessions so that a terminal's Ctrl-C reaches only the
coordinator, which then sends each worker exactly one SIGTERM (graceful stop). The
database URL travels in the environment, never on the command line (`ps` shows argv).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from nas import defaults


def worker_argv(threads: int, studies: list[str], serve: bool = False,
                device: str | None = None) -> list[str]:
    argv = [sys.executable, "-m", "nas", "worker", "--threads", str(threads)]
    argv += ["--device", device] if device else []
    for name in studies:
        argv += ["--study", name]
    return argv + (["--serve"] if serve else [])


def worker_env(url: str, threads: int) -> dict[str, str]:
    return {**os.environ, **defaults.thread_env(threads), defaults.ENV_URL: url}


def spawn_worker(url: str, threads: int, studies: list[str], log: Path,
                 serve: bool = False, device: str | None = None) -> subprocess.Popen:
    with defaults.private_log(log) as sink:
        return subprocess.Popen(worker_argv(threads, studies, serve, device),
                                env=worker_env(url, threads),
                                stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)


def terminate(pids: list[int], grace: float = defaults.STOP_GRACE, reap=None) -> None:
    """SIGTERM each process once, wait up to `grace` seconds, then SIGKILL the rest."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    for pid in pids:
        while _alive(pid, reap) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid, reap):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int, reap) -> bool:
    if reap is not None:
        return reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class SearchFleet:
    """J child worker processes of one `nas search` (reaped by it)."""

    def __init__(self, url: str, study: str, count: int, threads: int, logdir: Path,
                 device: str | None = None):
        self.url, self.study, self.count, self.threads = url, study, count, threads
        self.logdir, self.device = logdir, device
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        self.procs = [spawn_worker(self.url, self.threads, [self.study],
                                   self.logdir / f"worker-{i}.log", device=self.device)
                      for i in range(self.count)]

    def alive(self) -> int:
        return sum(p.poll() is None for p in self.procs)

    def stop(self, grace: float = defaults.STOP_GRACE) -> None:
        by_pid = {p.pid: p for p in self.procs}
        live = [p.pid for p in self.procs if p.poll() is None]
        terminate(live, grace, reap=lambda pid: by_pid[pid].poll() is None)
        for proc in self.procs:
            proc.wait()

    def exit_codes(self) -> list[int | None]:
        return [p.poll() for p in self.procs]


class LocalFleet:
    """Detached `nas worker` processes that outlive the command that started them."""

    def __init__(self):
        self.state = defaults.home() / "workers.local"

    def _pids(self) -> list[int]:
        if not self.state.exists():
            return []
        return [p for p in json.loads(self.state.read_text()) if _is_worker(p)]

    def up(self, count: int, url: str, threads: int, studies: list[str], serve: bool) -> list[str]:
        existing = self._pids()
        logs = defaults.logs_dir()
        new = [spawn_worker(url, threads, studies, logs / f"worker-local-{len(existing) + i:02d}.log",
                            serve).pid for i in range(count)]
        self.state.write_text(json.dumps(existing + new))
        return [f"started worker pid {pid}" for pid in new]

    def ps(self) -> list[str]:
        return [f"worker pid {pid} running" for pid in self._pids()]

    def down(self) -> list[str]:
        pids = self._pids()
        terminate(pids, defaults.STOP_GRACE)
        self.state.write_text("[]")
        return [f"stopped worker pid {pid}" for pid in pids]


def _is_worker(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"nas" in argv and b"worker" in argv
