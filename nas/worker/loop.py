"""The worker process: claim a slot, run one trial, repeat (after rq's `Worker.work`).

Lifecycle: signal handlers (installed by `nas worker` before its imports, nas.worker.stop)
-> bootstrap (database, schema check, registry row) -> heartbeat -> loop, where every way out is its own `break` with its own log line ->
teardown.

Shutdown is two-stage: the first SIGTERM/SIGINT asks the running trial to stop at its
next generation boundary; the trial is marked FAIL, re-queued with the same params, and
its budget claim released, so no trial is left RUNNING. A second signal exits at once.
The stop grace is therefore one generation plus a few database round trips.

When no slot is free but other workers still hold claims, the worker waits instead of
exiting: if one of them dies, its trial is retried by whoever is still here. With
`serve` it never exits for lack of work: it waits for new studies or budget (compose,
supervisord and remote fleets run this way).
"""
from __future__ import annotations

import logging
import os
import time
from typing import Callable, TypeVar

import optuna

from nas import __version__
from nas.errors import NasError
from nas.references import load_user_objective
from nas.store import Store
from nas.store.claims import Claim, ClaimEnd
from nas.store.retry import retrying
from nas.store.studies import StudyRow
from nas.store.url import mask
from nas.store.workers import WorkerState
from nas.worker.heartbeat import WorkerHeartbeat
from nas.worker.stop import STOP, install_handlers
from nas.worker.checkpoints import progressed_attempts
from nas.worker.retries import StaleTrialRetry, requeue_interrupted
from nas.worker.settings import WorkerSettings
from nas.worker.trial import TrialContext, run_one_trial

log = logging.getLogger("nas.worker")
T = TypeVar("T")


def make_storage(store: Store, settings: WorkerSettings) -> optuna.storages.RDBStorage:
    """One RDB storage per process, whose small pre-pinged pool nas shares."""
    storage = store.optuna_storage(
        skip_table_creation=True, heartbeat_interval=settings.heartbeat_interval,
        grace_period=settings.heartbeat_grace,
        heartbeat_stale_trial_callback=StaleTrialRetry(
            settings.max_retry, lambda study, frozen: progressed_attempts(store, study, frozen)))
    storage.retry_limit = settings.db_retry_seconds
    store.adopt_engine(storage.engine)
    return storage


class Worker:
    def __init__(self, store: Store, study_names: list[str], settings: WorkerSettings,
                 max_trials: int | None = None, serve: bool = False):
        self.store, self.study_names, self.settings = store, study_names, settings
        self.storage: optuna.storages.RDBStorage | None = None  # made at bootstrap
        self.trials: TrialContext | None = None  # likewise
        self.max_trials, self.serve = max_trials, serve
        self.stop = STOP
        self.worker_id: int | None = None
        self.studies: dict[int, StudyRow] = {}
        self.trials_run = 0
        self._optuna_studies: dict[int, optuna.Study] = {}
        self._checked: set[int] = set()  # study ids whose objective and task import here
        self._unservable: dict[int, str] = {}  # study id -> why this machine cannot serve it
        self._next_reap = 0.0
        self.objective_seconds: list[float] = []
        self.bookkeeping: list[float] = []  # per trial: wall time outside the objective

    def work(self) -> int:
        install_handlers()  # `nas worker` did already, before its imports: idempotent
        self._retrying(self.bootstrap, "worker start")
        try:
            with WorkerHeartbeat(self.store, self.worker_id, self.settings.heartbeat_interval,
                                 self.stop, self.settings.health_file):
                self._loop()
        finally:
            self.teardown()
        return 0

    def _loop(self) -> None:
        while True:
            if self.stop.is_set():
                log.info("stop requested: leaving the loop")
                break
            if self.max_trials is not None and self.trials_run >= self.max_trials:
                log.info("ran %d trials (--max-trials): exiting", self.trials_run)
                break
            started = time.perf_counter()
            claim = self._retrying(self._next_claim, "claiming a trial")
            if claim is None:
                if not self.serve and not self._others_still_running():
                    log.info("%s: exiting", self._why_idle())
                    break
                self.stop.wait(self.settings.serve_poll if self.serve
                               else min(1.0, self.settings.heartbeat_interval / 2))
                continue
            self.objective_seconds.clear()
            self.run_trial(claim)
            self.bookkeeping.append(time.perf_counter() - started - sum(self.objective_seconds))

    def _why_idle(self) -> str:
        """Why no slot could be claimed: paused studies are not out of budget."""
        self._refresh_studies()
        paused = sorted(r.name for r in self.studies.values() if r.paused)
        rest = len(self.studies) - len(paused)
        skipped = (f"; {len(self._unservable)} not servable here (logged above)"
                   if self._unservable else "")
        if paused:
            return (f"study {', '.join(paused)} paused (`nas study resume NAME`)"
                    + (f", no budget left in the other {rest}" if rest else "") + skipped)
        return f"no budget left in {rest} stud{'y' if rest == 1 else 'ies'}{skipped}"

    def bootstrap(self) -> None:
        self.store.check_connection()
        self.store.require_current()
        for name in self.study_names:
            self.store.require_study(name)  # a typo in --study is an error, not a wait
        self._refresh_studies()
        if self.study_names and not self.studies:  # nothing named can be served here
            raise NasError(next(iter(self._unservable.values())))
        self.storage = make_storage(self.store, self.settings)
        self.worker_id = self.store.register_worker(os.getpid(), self.settings.threads, __version__)
        self.trials = TrialContext(self.store, self.storage, self.settings, self.worker_id,
                                   self.stop)
        log.info("worker %d started (threads=%d) on %s", self.worker_id, self.settings.threads,
                 mask(self.store.url))

    def _refresh_studies(self) -> None:
        """The studies served: those named (or all), less any deleted meanwhile and any this
        machine cannot serve. One study's objective or task that does not import here (a
        study created from another directory) must not stop the fleet serving the rest."""
        rows = ([r for r in map(self.store.study, self.study_names) if r is not None]
                if self.study_names else self.store.list_studies())
        for gone in set(self.studies) - {r.id for r in rows}:
            self._forget(gone, "deleted")
        self.studies = {r.id: r for r in rows if self._servable(r)}

    def _servable(self, row: StudyRow) -> bool:
        """Imports the study's objective or task once; a failure is logged once, by name."""
        if row.id not in self._unservable and row.id not in self._checked:
            try:
                if row.spec.objective:
                    load_user_objective(row.spec.objective)
                row.spec.check_task()
                self._checked.add(row.id)
            except NasError as exc:
                self._unservable[row.id] = str(exc)
                log.warning("not serving study %s here: %s", row.name, exc)
        return row.id in self._checked

    def _forget(self, study_id: int, how: str) -> None:
        """Stop serving a study that no longer exists, with one log line."""
        row = self.studies.pop(study_id, None)
        self._optuna_studies.pop(study_id, None)
        if row is not None:
            log.warning("study %s was %s (by nas or Optuna's own tools): no longer served",
                        row.name, how)

    def vanished(self, study_id: int) -> bool:
        """True (and the study forgotten) when a study this worker serves was deleted."""
        if self._retrying(lambda: self.store.study_exists(study_id), "checking a study"):
            return False
        self._forget(study_id, "deleted")
        return True

    def _next_claim(self) -> Claim | None:
        """Fail stale trials and settle dead workers' claims everywhere we serve (at most
        once per heartbeat interval: nothing can go stale faster), then claim."""
        if time.monotonic() >= self._next_reap:
            self._reap()
        return self.store.claim(list(self.studies), self.worker_id)

    def _reap(self) -> None:
        if not self.study_names:
            self._refresh_studies()  # studies may be added while workers run
        for row in list(self.studies.values()):
            try:
                optuna.storages.fail_stale_trials(self.optuna_study(row))
            except KeyError:  # Optuna's "Record does not exist": deleted since the refresh
                self._forget(row.id, "deleted")
        self._fail_beatless()
        settled, to_retry = self.store.reap_dead_claims(
            list(self.studies), self.settings.heartbeat_grace, self.settings.max_retry)
        by_optuna_id = {r.optuna_study_id: r for r in self.studies.values()}
        for study_id, trial_id in to_retry:  # its failer died between FAIL and the retry
            log.info("queueing the retry a dead worker left undone (trial id %d)", trial_id)
            self._requeue(by_optuna_id[study_id], self.storage.get_trial(trial_id))
        if any(settled.values()):
            log.info("settled claims of dead workers: %s", settled)
        self._fail_orphans(list(by_optuna_id))
        self._next_reap = time.monotonic() + self.settings.heartbeat_interval

    def _fail_beatless(self) -> None:
        """Fail and re-queue, as Optuna's stale check would, the trials of dead workers
        that never beat (nas.store.optuna_tables.beatless_trials)."""
        by_optuna_id = {r.optuna_study_id: r for r in self.studies.values()}
        for study_id, trial_id in self.store.beatless_trials(list(by_optuna_id),
                                                              self.settings.heartbeat_grace):
            try:
                self.storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another worker got there first
            frozen = self.storage.get_trial(trial_id)
            log.info("failed trial %d of %s: its worker died before its first heartbeat",
                     frozen.number, by_optuna_id[study_id].name)
            self._requeue(by_optuna_id[study_id], frozen)

    def _requeue(self, row: StudyRow, frozen: optuna.trial.FrozenTrial) -> None:
        study = self.optuna_study(row)
        requeue_interrupted(study, frozen, self.settings.max_retry,
                            progressed_attempts(self.store, study, frozen))

    def _fail_orphans(self, optuna_study_ids: list[int]) -> None:
        for trial_id in self.store.orphan_trials(optuna_study_ids, self.settings.heartbeat_grace):
            try:
                self.storage.set_trial_system_attr(trial_id, "nas_orphan", True)
                self.storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
                log.info("failed an orphaned trial (trial id %d) created during an outage", trial_id)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # another worker got there first

    def optuna_study(self, row: StudyRow) -> optuna.Study:
        """One Study object per study for the worker's life: Optuna's cached storage and
        the sampler stay warm between trials."""
        if row.id not in self._optuna_studies:
            self._optuna_studies[row.id] = optuna.load_study(
                study_name=row.name, storage=self.storage, sampler=row.spec.build_sampler(),
                pruner=row.spec.build_pruner())
        return self._optuna_studies[row.id]

    def _others_still_running(self) -> bool:
        """Claims still held, or trials that may turn out orphaned: wait to settle them."""
        optuna_ids = [r.optuna_study_id for r in self.studies.values()]
        return self._retrying(lambda: self.store.active_claims(list(self.studies)) > 0
                              or self.store.unbound_running(optuna_ids) > 0, "counting claims")

    def _retrying(self, call: Callable[[], T], what: str) -> T:
        """Ride out a database outage for the settings' limit, or until a stop request."""
        return retrying(call, what, self.settings.db_retry_seconds, self.stop)

    def run_trial(self, claim: Claim) -> None:
        row = self.studies[claim.study_id]
        try:
            study = self._retrying(lambda: self.optuna_study(row), "loading the study")
            end = run_one_trial(self.trials, claim, row, study, self.objective_seconds,
                                self.vanished)
        except Exception:
            if not self.vanished(claim.study_id):
                raise
            end = ClaimEnd.RELEASED  # its claim went with the study
        after = WorkerState.STOPPING if self.stop.is_set() else WorkerState.IDLE

        def close() -> None:
            with self.store.transaction():  # the claim and the registry change together
                self.store.finish_claim(claim.id, end)
                self.store.worker_seen(self.worker_id, after)
        retrying(close, "closing a claim", self.settings.db_retry_seconds)
        self.trials_run += end is ClaimEnd.DONE

    def teardown(self) -> None:
        if self.bookkeeping:
            cost = sorted(self.bookkeeping)
            log.info("worker summary: trials=%d bookkeeping_ms median=%.1f p99=%.1f",
                     len(cost), 1000 * cost[len(cost) // 2],
                     1000 * cost[min(len(cost) - 1, int(0.99 * len(cost)))])
        if self.worker_id is not None:
            try:
                self.store.worker_seen(self.worker_id, WorkerState.STOPPED)
            except NasError as exc:
                log.warning("could not mark worker stopped: %s", exc)
        self.store.dispose()
