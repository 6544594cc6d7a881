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


class Fleet:
    def __init__(self, url: str, study: str, count: int, threads: int, logdir: Path):
        self.url, self.study, self.count, self.threads = url, study, count, threads
        self.logdir = logdir
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        self.logdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **thread_env(self.threads), ENV_URL: self.url}
        for i in range(self.count):
            with open(self.logdir / f"worker-{i}.log", "ab") as log:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "nas", "worker", "--study", self.study,
                     "--threads", str(self.threads)],
                    env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True))

    def alive(self) -> int:
        return sum(p.poll() is None for p in self.procs)

    def stop(self, grace: float = 120.0) -> None:
        """SIGTERM each live worker once, wait for the grace period, then kill."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def exit_codes(self) -> list[int | None]:
        return [p.poll() for p in self.procs]
