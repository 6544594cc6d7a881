"""The worker's own heartbeat: `nas.workers.last_seen` from the database clock.

Optuna's heartbeat covers a running trial; this one covers the worker between and
around trials, so a worker that died after claiming but before asking is noticed too.
A context manager whose loop is `stop.wait(interval)`: it ends at once when asked.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from nas.defaults import ENV_HEALTH_FILE
from nas.errors import NasError

log = logging.getLogger("nas.worker")


class WorkerHeartbeat:
    def __init__(self, store, worker_id: int, interval: float, stopping: threading.Event):
        self.store, self.worker_id, self.interval = store, worker_id, interval
        self.stopping = stopping
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nas-heartbeat", daemon=True)

    def __enter__(self) -> "WorkerHeartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            try:
                self.store.worker_beat(self.worker_id, self.stopping.is_set())
                touch_health_file()
            except NasError as exc:  # an outage: the next beat tries again
                log.warning("heartbeat missed: %s", exc)
            except OSError as exc:  # a full disk or read-only health path must not end the
                log.warning("health file not written: %s", exc)  # beats the trial lives on
            if self._stop.wait(self.interval):
                return


def health_file() -> Path | None:
    name = os.environ.get(ENV_HEALTH_FILE)
    return Path(name) if name else None


def touch_health_file() -> None:
    """Container healthchecks read this file's age: it is fresh only while the worker's
    heartbeat reaches the database."""
    path = health_file()
    if path is not None:
        path.touch()


def healthy(max_age: float) -> bool:
    path = health_file()
    try:
        return path is not None and time.time() - path.stat().st_mtime <= max_age
    except FileNotFoundError:
        return False
