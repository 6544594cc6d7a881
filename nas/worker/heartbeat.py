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

from nas.errors import NasError
from nas.store import workers

log = logging.getLogger("nas.worker")


class WorkerHeartbeat:
    def __init__(self, url: str, worker_id: int, interval: float):
        self.url, self.worker_id, self.interval = url, worker_id, interval
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
                workers.beat(self.url, self.worker_id)
                touch_health_file()
            except NasError as exc:  # an outage: the next beat tries again
                log.warning("heartbeat missed: %s", exc)
            if self._stop.wait(self.interval):
                return


def health_file() -> Path | None:
    name = os.environ.get("NAS_HEALTH_FILE")
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
