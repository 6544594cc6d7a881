"""Local worker processes for `nas search -j J`: start, stop on signal, reap.

Workers run in their own sessions so that a terminal's Ctrl-C reaches only the
coordinator, which then sends each worker exactly one SIGTERM (graceful stop). The
database URL travels in the environment, never on the command line (`ps` shows argv).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from nas.store.url import ENV_URL
from nas.worker.threads import thread_env

STOP_GRACE = 120.0  # one generation plus database round trips; compose/supervisord match it


def worker_argv(threads: int, studies: list[str], serve: bool = False) -> list[str]:
    argv = [sys.executable, "-m", "nas", "worker", "--threads", str(threads)]
    for name in studies:
        argv += ["--study", name]
    return argv + (["--serve"] if serve else [])


def worker_env(url: str, threads: int) -> dict[str, str]:
    return {**os.environ, **thread_env(threads), ENV_URL: url}


def spawn_worker(url: str, threads: int, studies: list[str], log: Path,
                 serve: bool = False) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as sink:
        return subprocess.Popen(worker_argv(threads, studies, serve), env=worker_env(url, threads),
                                stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)


def terminate(pids: list[int], grace: float = STOP_GRACE, reap=None) -> None:
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


class Fleet:
    """J child worker processes of one coordinator (reaped by it)."""

    def __init__(self, url: str, study: str, count: int, threads: int, logdir: Path):
        self.url, self.study, self.count, self.threads = url, study, count, threads
        self.logdir = logdir
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        self.procs = [spawn_worker(self.url, self.threads, [self.study], self.logdir / f"worker-{i}.log")
                      for i in range(self.count)]

    def alive(self) -> int:
        return sum(p.poll() is None for p in self.procs)

    def stop(self, grace: float = STOP_GRACE) -> None:
        by_pid = {p.pid: p for p in self.procs}
        live = [p.pid for p in self.procs if p.poll() is None]
        terminate(live, grace, reap=lambda pid: by_pid[pid].poll() is None)
        for proc in self.procs:
            proc.wait()

    def exit_codes(self) -> list[int | None]:
        return [p.poll() for p in self.procs]
