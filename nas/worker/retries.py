"""Re-queueing a trial that stopped through no fault of its own.

One rule for every way a trial is interrupted (its worker was stopped by a signal, lost
the database, or died and was failed by another worker's heartbeat check): a retry with
the same params is queued, at most `max_retry` times (WorkerSettings) along one trial's lineage.
A trial out of retries stays FAIL and counts toward the budget like any failure.
"""
from __future__ import annotations

import logging

import optuna


log = logging.getLogger("nas.worker")


def retry_callback(max_retry: int) -> optuna.storages.RetryHeartbeatStaleTrialCallback:
    """Optuna's own re-queueing, with our limit (also what `fail_stale_trials` calls)."""
    return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry)


def requeue_interrupted(study: optuna.Study, frozen: optuna.trial.FrozenTrial,
                        max_retry: int) -> bool:
    """Queue the retry of a FAIL trial; False when its lineage is out of retries."""
    if len(frozen.system_attrs.get("retry_history", [])) >= max_retry:
        log.warning("trial %d of %s interrupted again: out of retries (%d), left failed",
                    frozen.number, study.study_name, max_retry)
        return False
    retry_callback(max_retry)(study, frozen)
    log.info("trial %d of %s interrupted: queued for retry", frozen.number, study.study_name)
    return True
