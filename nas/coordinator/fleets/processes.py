"""Worker processes on this machine: the ones `nas search -j J` follows, and the detached
ones of `nas workers up --via local`, found again by psutil through the fleet mark in
their environment (NAS_FLEET=local:<NAS_HOME>), with no PID file to go stale.

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

import psutil

from nas import defaults, paths
from nas.coordinator.fleets.options import FleetOptions


def worker_argv(threads: int, studies: list[str], serve: bool = False,
                device: str | None = None) -> list[str]:
    argv = [sys.executable, "-m", "nas", "worker", "--threads", str(threads)]
    argv += ["--device", device] if device else []
    for name in studies:
        argv += ["--study", name]
    return argv + (["--serve"] if serve else [])


def worker_env(url: str, threads: int, **extra: str) -> dict[str, str]:
    return {**os.environ, **defaults.thread_env(threads), defaults.ENV_URL: url, **extra}


def spawn_worker(url: str, threads: int, studies: list[str], log: Path,
                 serve: bool = False, device: str | None = None, **env: str) -> subprocess.Popen:
    with paths.private_log(log) as sink:
        return subprocess.Popen(worker_argv(threads, studies, serve, device),
                                env=worker_env(url, threads, **env), stdin=subprocess.DEVNULL,
                                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)


def terminate(procs: list[psutil.Process], grace: float = defaults.STOP_GRACE) -> list[psutil.Process]:
    """SIGTERM each process once, wait up to `grace` seconds (psutil.wait_procs), then
    SIGKILL the rest; returns those that had to be killed."""
    for proc in procs:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace)
    return alive


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
        """SIGTERM each live worker once, wait up to `grace`, SIGKILL the rest. Through
        Popen, not psutil: Popen reaps its own children and keeps their exit codes."""
        live = [p for p in self.procs if p.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in live:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        for proc in self.procs:
            proc.wait()

    def exit_codes(self) -> list[int | None]:
        return [p.poll() for p in self.procs]


class LocalFleet:
    """Detached `nas worker` processes that outlive the command that started them."""

    def __init__(self, options: FleetOptions | None = None):
        self.home = paths.home()
        self.mark = f"local:{self.home}"

    def _workers(self) -> list[psutil.Process]:
        """This user's live workers of this NAS_HOME's fleet, oldest first."""
        found = []
        for proc in psutil.process_iter(["environ", "cmdline", "create_time"]):
            try:
                if ((proc.info["environ"] or {}).get(defaults.ENV_FLEET) == self.mark
                        and _is_worker(proc.info["cmdline"] or [])
                        and proc.status() != psutil.STATUS_ZOMBIE):
                    found.append(proc)
            except psutil.Error:
                continue  # gone meanwhile
        return sorted(found, key=lambda p: (p.info["create_time"], p.pid))

    def up(self, count: int, url: str, threads: int, studies: list[str], serve: bool) -> list[str]:
        existing = len(self._workers())
        logs = paths.logs_dir()
        new = [spawn_worker(url, threads, studies, logs / f"worker-local-{existing + i:02d}.log",
                            serve, **{defaults.ENV_FLEET: self.mark}).pid for i in range(count)]
        return [f"started worker pid {pid}" for pid in new]

    def ps(self) -> list[str]:
        return [f"worker pid {p.pid} running" for p in self._workers()]

    def down(self) -> list[str]:
        procs = self._workers()
        terminate(procs, defaults.STOP_GRACE)
        return [f"stopped worker pid {p.pid}" for p in procs]


def _is_worker(argv: list[str]) -> bool:
    """`python -m nas worker ...` (not a process a worker started, which shares its mark)."""
    return "nas" in argv and "worker" in argv
