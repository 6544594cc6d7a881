"""The worker's own heartbeat: `nas.workers.last_seen` from the database clock.

Optuna's heartbeat covers a running trial; this one covers the worker between and
around trials, so a worker that died after claiming but before asking is noticed too.
A context manager whose loop is `stop.wait(interval)`: it ends at once when asked.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from nas import defaults
from nas.store.errors import is_unavailable

log = logging.getLogger("nas.worker")


class WorkerHeartbeat:
    def __init__(self, store, worker_id: int, interval: float, stopping: threading.Event,
                 health: Path | None = None):
        self.store, self.worker_id, self.interval = store, worker_id, interval
        self.stopping, self.health = stopping, health
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
                if self.health is not None:  # container healthchecks read its age: fresh
                    self.health.touch()      # only while beats reach the database
            except OSError as exc:  # a full disk or read-only health path must not end the
                log.warning("health file not written: %s", exc)  # beats the trial lives on
            except Exception as exc:
                if not is_unavailable(exc):  # a bug, not an outage: no beat will ever land
                    log.error("heartbeat failed, stopping the worker: %s", exc)
                    self.stopping.set()
                    return
                log.warning("heartbeat missed: %s", exc)  # the next beat tries again
            if self._stop.wait(self.interval):
                return


def healthy(max_age: float) -> bool:
    """The worker's health file (`NAS_HEALTH_FILE`) was touched within `max_age` s."""
    path = defaults.health_file()
    try:
        return path is not None and time.time() - path.stat().st_mtime <= max_age
    except FileNotFoundError:
        return False
