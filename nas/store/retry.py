"""Riding out database outages: exponential backoff with jitter, up to a time limit.

A PostgreSQL restart, failover or network blip must not kill a day-long study. Calls
that fail because the server is unreachable, or because it is short of resources for now
(SQLSTATE class 53: disk full, out of memory, too many connections), are retried;
anything else (a constraint violation, a bug) is raised at once.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from typing import Callable, TypeVar

from nas import defaults
from nas.store.errors import describe, is_unavailable, root_cause

log = logging.getLogger("nas.store")
T = TypeVar("T")


def backoff(attempt: int, base: float = 0.25, cap: float = 10.0) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)]; never zero, so no spin."""
    return max(0.05, random.uniform(0, min(cap, base * 2 ** attempt)))


def retrying(call: Callable[[], T], what: str, limit: float | None = None,
             stop: threading.Event | None = None) -> T:
    """Run `call`, retrying while the database is unavailable, for at most `limit` seconds."""
    limit = defaults.db_retry_seconds() if limit is None else limit
    started, attempt = time.monotonic(), 0
    while True:
        try:
            return call()
        except Exception as exc:
            if not is_unavailable(exc) or time.monotonic() - started > limit:
                raise
            delay = backoff(attempt)
            attempt += 1
            log.warning("database unavailable during %s (%s); retry %d in %.1fs",
                        what, describe(root_cause(exc)), attempt, delay)
            if stop is not None and stop.wait(delay):
                raise
            if stop is None:
                time.sleep(delay)
