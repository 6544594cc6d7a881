"""Riding out database outages: exponential backoff with full jitter, up to a time limit.

A PostgreSQL restart, failover or network blip must not kill a day-long study. Calls
that fail because the server is unreachable, or because it is short of resources for now
(SQLSTATE class 53: disk full, out of memory, too many connections), are retried;
anything else (a constraint violation, a bug) is raised at once. What counts as
unavailable is nas.store.errors; the loop is tenacity's.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, TypeVar

import tenacity

from nas import defaults
from nas.store.errors import describe, is_unavailable, root_cause

log = logging.getLogger("nas.store")
T = TypeVar("T")

# Full jitter: the n-th wait is uniform in [0.05, min(10, 0.25 * 2**(n-1))] seconds, never
# below 0.05 so that an outage never makes a worker spin.
BACKOFF = tenacity.wait_random_exponential(multiplier=0.25, max=10.0, min=0.05)


def retrying(call: Callable[[], T], what: str, limit: float | None = None,
             stop: threading.Event | None = None) -> T:
    """Run `call`, retrying while the database is unavailable, for at most `limit` seconds.
    A set `stop` event ends the wait before the next try: the last error is raised."""
    limit = defaults.db_retry_seconds() if limit is None else limit
    stopped = threading.Event()  # `stop` was set during a wait: raise, do not call again
    failure: list[BaseException] = []

    def attempt() -> T:
        if stopped.is_set():
            raise failure[0]
        return call()

    def wait(seconds: float) -> None:
        if stop is None:
            time.sleep(seconds)
        elif stop.wait(seconds):
            stopped.set()

    def announce(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception()
        failure[:] = [exc]
        log.warning("database unavailable during %s (%s); retry %d in %.1fs",
                    what, describe(root_cause(exc)), state.attempt_number,
                    state.next_action.sleep)

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(lambda e: isinstance(e, Exception) and is_unavailable(e)),
        stop=tenacity.stop_after_delay(limit) | tenacity.stop_when_event_set(stopped),
        wait=BACKOFF, before_sleep=announce, sleep=wait, reraise=True)(attempt)
