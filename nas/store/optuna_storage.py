"""Optuna's RDB storage with a trial heartbeat that survives database outages.

Optuna's heartbeat thread (`optuna/storages/_heartbeat.py`, `_record_heartbeat`) loops
`record_heartbeat(); stop_event.wait(interval)` and ends for good at the first write that
raises. A database restart of a few seconds therefore stopped the heartbeat of every
running trial while the trial itself went on; a grace period later another worker failed
the healthy trial as dead, retried it, and the first worker's result was thrown away.
Here a beat that cannot reach the database is logged and skipped, so the loop goes on and
the next beat lands as soon as the server is back: an outage shorter than the grace
period costs nothing. Any other error still raises, as in Optuna.
"""
from __future__ import annotations

import logging

import optuna

from nas.store.retry import is_unavailable
from nas.store.session import describe

log = logging.getLogger("nas.store")


class OutageTolerantRDBStorage(optuna.storages.RDBStorage):
    def record_heartbeat(self, trial_id: int) -> None:
        try:
            super().record_heartbeat(trial_id)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("trial heartbeat missed, database unavailable (%s): the next beat "
                        "retries", describe(exc))
