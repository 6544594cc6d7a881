"""The one stop request of a worker process, and the signal handlers that set it.

Torch-free and installed first thing in `nas worker`, before the thread caps and the heavy
imports (a few seconds): a SIGTERM that arrives while torch loads is a stop request like
any other, and the worker exits 0 with a line instead of dying silently with 143.

Two stages: the first SIGTERM/SIGINT asks to stop at the next generation boundary; the
handlers are then rebound so that a second signal exits at once.
"""
from __future__ import annotations

import logging
import os
import signal
import threading

log = logging.getLogger("nas.worker")

# One worker per process: the handler sets this, the loop and generation boundaries read it.
STOP = threading.Event()


def install_handlers() -> None:
    """Idempotent: once a stop was requested the forcing handlers stay in place."""
    if STOP.is_set():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _request_stop)


def _request_stop(signum, frame) -> None:
    log.info("%s: finishing at the next generation boundary (again to force)",
             signal.Signals(signum).name)
    STOP.set()  # the heartbeat thread records the state as `stopping`
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _force_stop)


def _force_stop(signum, frame) -> None:
    log.warning("%s again: exiting now", signal.Signals(signum).name)
    os._exit(128 + signum)
