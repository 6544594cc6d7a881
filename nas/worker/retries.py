"""Re-queueing a trial that stopped through no fault of its own.

One rule for every way a trial is interrupted (its worker was stopped by a signal, lost
the database, or died and was failed by another worker's heartbeat check): a retry with
the same params is queued. Along one trial's lineage, `max_retry` (WorkerSettings) attempts
may end without progress; attempts that advanced the lineage's checkpoint do not count,
so a long trial preempted again and again still finishes. A trial out of retries stays
FAIL and counts toward the budget like any failure. (Optuna's RetryHeartbeatStaleTrialCallback
counts every attempt, and copies the attempt's own attributes into its retry.)
"""
from __future__ import annotations

import logging
from typing import Callable

import optuna

from nas.store.claims import out_of_retries


log = logging.getLogger("nas.worker")


# A trial's own story, which its retry must not inherit (Optuna's callback copies every
# system attribute): whether it was preempted, resumed, failed at once or orphaned.
ATTEMPT_ATTRS = ("nas_preempted", "nas_resumed_from", "nas_failed_at_once", "nas_orphan")

Progressed = Callable[[optuna.Study, optuna.trial.FrozenTrial], int]


class StaleTrialRetry:
    """The callback Optuna's `fail_stale_trials` calls for a trial whose worker died: the
    same re-queueing rule as every other interruption (requeue_interrupted)."""

    def __init__(self, max_retry: int, progressed: Progressed):
        self.max_retry, self.progressed = max_retry, progressed

    def __call__(self, study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        requeue_interrupted(study, frozen, self.max_retry, self.progressed(study, frozen))


def requeue_interrupted(study: optuna.Study, frozen: optuna.trial.FrozenTrial,
                        max_retry: int, progressed: int = 0) -> bool:
    """Queue the retry of a FAIL trial; False when its lineage is out of retries. Only
    attempts that made no progress count: `progressed` of the lineage's attempts so far
    (this one included) advanced its checkpoint, and are not held against it."""
    history = list(frozen.system_attrs.get("retry_history", []))
    if out_of_retries(len(history), progressed, max_retry):
        log.warning("trial %d of %s interrupted again: out of retries (%d), left failed",
                    frozen.number, study.study_name, max_retry)
        return False
    attrs = {k: v for k, v in frozen.system_attrs.items() if k not in ATTEMPT_ATTRS}
    study.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.WAITING, params=frozen.params,
        distributions=frozen.distributions, user_attrs=frozen.user_attrs,
        system_attrs={"failed_trial": frozen.number, **attrs,
                      "retry_history": [*history, frozen.number]}))
    log.info("trial %d of %s interrupted: queued for retry", frozen.number, study.study_name)
    return True
