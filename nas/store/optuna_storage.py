"""Optuna's RDB storage, made to wait through database outages for every objective.

Every objective a worker runs, nas's own or a user's `--objective`, talks to the database
through this storage (Optuna wraps it in its `_CachedStorage`, which calls the methods
below). Optuna's RDBStorage raises at the first failed statement, so a restart of a few
seconds used to lose the trial of any objective that did not wrap its own calls: a
`trial.report` raised, Optuna tried to record the FAIL, that write failed too, and the
worker saw an `UnboundLocalError` from inside Optuna; the trial was failed and re-run.
Here the trial writes (params, reports, user and system attributes, the final state and
value) and the reads a trial makes (its own record, the study's trials for a sampler or
pruner) retry while the database is unavailable or short of resources, for at most
`retry_limit` seconds (nas.defaults.db_retry_seconds()), as nas's own bookkeeping does.
Trial creation is left to Optuna and nas's loop: it comes before the claim is bound,
and a trial created twice (the first ack lost) is failed as an orphan.

A retried write may have committed before its acknowledgement was lost, so each must be
idempotent: attributes, reports and params are upserts or ignore the duplicate (Optuna
opens their sessions with integrity errors ignored); the state write is checked below.

Optuna's heartbeat thread (`optuna/storages/_heartbeat.py`, `_record_heartbeat`) loops
`record_heartbeat(); stop_event.wait(interval)` and ends for good at the first write that
raises: here a beat that cannot reach the database is logged and skipped instead, so the
loop goes on and the next beat lands as soon as the server is back. An outage shorter
than the heartbeat grace therefore costs nothing. Any other error still raises, as in
Optuna.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Sequence, TypeVar

import optuna
import psycopg2.errors
from optuna.trial import TrialState

from nas.causes import find_cause
from nas.store.errors import describe, is_unavailable, root_cause
from nas.store.retry import retrying
from nas.store.session import ENGINE_OPTIONS

log = logging.getLogger("nas.store")
T = TypeVar("T")


class OutageTolerantRDBStorage(optuna.storages.RDBStorage):
    retry_limit: float | None = None  # seconds; None: nas.defaults.db_retry_seconds()

    def _wait(self, call: Callable[[], T], what: str) -> T:
        return retrying(call, what, self.retry_limit)

    # -- trial writes ------------------------------------------------------------------
    def _set_trial_param(self, trial_id, param_name, param_value_internal, distribution,
                         previous_distribution) -> None:
        # set_trial_param (and _CachedStorage's) both land here. Retried after a commit
        # whose ack was lost, the duplicate row is an IntegrityError Optuna ignores here.
        parent = super()._set_trial_param
        self._wait(lambda: parent(trial_id, param_name, param_value_internal, distribution,
                                  previous_distribution),
                   f"a trial write (param {param_name} of trial id {trial_id})")

    def set_trial_intermediate_value(self, trial_id: int, step: int,
                                     intermediate_value: float) -> None:
        parent = super().set_trial_intermediate_value  # an upsert by (trial, step)
        self._wait(lambda: parent(trial_id, step, intermediate_value),
                   f"a trial write (report of step {step}, trial id {trial_id})")
        # Optuna ignores an integrity error on this write (a step reported twice), so a
        # report to a trial whose study was deleted meanwhile vanishes without a word and
        # the objective runs on for nothing: ask, and fail as Optuna does for a missing
        # record, so the worker drops the study at the next report.
        self._wait(lambda: self._require_trial(trial_id), f"checking trial id {trial_id} exists")

    def _require_trial(self, trial_id: int) -> None:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            found = conn.execute(sa.text("SELECT 1 FROM trials WHERE trial_id = :t"),
                                 {"t": trial_id}).first()
        if found is None:
            raise KeyError("Record does not exist.")

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        parent = super().set_trial_user_attr  # an upsert by (trial, key)
        self._wait(lambda: parent(trial_id, key, value),
                   f"a trial write (user attribute {key} of trial id {trial_id})")

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        parent = super().set_trial_system_attr  # an upsert by (trial, key)
        self._wait(lambda: parent(trial_id, key, value),
                   f"a trial write (system attribute {key} of trial id {trial_id})")

    def set_trial_state_values(self, trial_id: int, state: TrialState,
                               values: Sequence[float] | None = None) -> bool:
        """The final tell (and WAITING -> RUNNING, and failing). Once an attempt failed
        for want of the database it may have committed all the same; the retry then finds
        the trial finished, and if it is finished as this call asked, that is success,
        not an UpdateFinishedTrialError. A trial finished otherwise (failed by another
        worker's heartbeat check meanwhile) still raises, as it would without an outage."""
        parent = super().set_trial_state_values
        maybe_committed = False

        def attempt() -> bool:
            nonlocal maybe_committed
            try:
                return parent(trial_id, state=state, values=values)
            except optuna.exceptions.UpdateFinishedTrialError:
                if maybe_committed and self._finished_as(trial_id, state, values):
                    log.info("trial id %d was already %s: the write the outage interrupted "
                             "had committed", trial_id, state.name)
                    return True
                raise
            except Exception as exc:
                maybe_committed = maybe_committed or is_unavailable(exc)
                raise

        return self._wait(attempt, f"a trial write ({state.name} of trial id {trial_id})")

    def _finished_as(self, trial_id: int, state: TrialState,
                     values: Sequence[float] | None) -> bool:
        frozen = super().get_trial(trial_id)
        wanted = None if values is None else [float(v) for v in values]
        return frozen.state == state and (wanted is None or frozen.values == wanted)

    # -- reads during a trial (its record; the study's trials for a sampler or pruner) --
    def get_trial(self, trial_id: int):
        parent = super().get_trial
        return self._wait(lambda: parent(trial_id), f"a trial read (trial id {trial_id})")

    def _get_trials(self, study_id, states, included_trial_ids, trial_id_greater_than):
        # get_all_trials and _CachedStorage's refresh both land here
        parent = super()._get_trials
        return self._wait(lambda: parent(study_id, states, included_trial_ids,
                                         trial_id_greater_than), "reading the study's trials")

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        parent = super().get_trial_id_from_study_id_trial_number
        return self._wait(lambda: parent(study_id, trial_number),
                          f"a trial read (trial number {trial_number})")

    def get_trial_param(self, trial_id: int, param_name: str) -> float:
        parent = super().get_trial_param
        return self._wait(lambda: parent(trial_id, param_name),
                          f"a trial read (param {param_name} of trial id {trial_id})")

    def get_trial_user_attrs(self, trial_id: int) -> dict[str, Any]:
        parent = super().get_trial_user_attrs
        return self._wait(lambda: parent(trial_id), f"a trial read (trial id {trial_id})")

    def get_trial_system_attrs(self, trial_id: int) -> dict[str, Any]:
        parent = super().get_trial_system_attrs
        return self._wait(lambda: parent(trial_id), f"a trial read (trial id {trial_id})")

    def _get_best_trial_id(self, study_id, direction) -> int:
        parent = super()._get_best_trial_id
        return self._wait(lambda: parent(study_id, direction), "reading the best trial")

    # -- the heartbeat ---------------------------------------------------------------
    def record_heartbeat(self, trial_id: int) -> None:
        try:
            super().record_heartbeat(trial_id)
        except Exception as exc:
            if find_cause(exc, lambda e: isinstance(e, psycopg2.errors.ForeignKeyViolation)):
                return  # the trial was deleted with its study: it ends at its next write
            if not is_unavailable(exc):
                raise
            log.warning("trial heartbeat missed, database unavailable (%s): the next beat "
                        "retries", describe(root_cause(exc)))


def optuna_storage(url: str, **kwargs) -> OutageTolerantRDBStorage:
    """An Optuna RDB storage on the same engine options as ours (one place to set them),
    whose trial heartbeat rides out database outages."""
    return OutageTolerantRDBStorage(url, engine_kwargs=dict(ENGINE_OPTIONS), **kwargs)
