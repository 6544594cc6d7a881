"""The worker process: claim a slot, run one trial, repeat (after rq's `Worker.work`).

Lifecycle: bootstrap (database, schema check, registry row) -> signal handlers ->
heartbeat -> loop, where every way out is its own `break` with its own log line ->
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
import signal
import time
from enum import Enum

import optuna

from nas import __version__
from nas.errors import NasError
from nas.store import claims, reaper, schema, session, studies, workers
from nas.store.retry import retrying
from nas.store.url import mask
from nas.worker.heartbeat import WorkerHeartbeat
from nas.worker.objective import STOP, load_user_objective

log = logging.getLogger("nas.worker")

HEARTBEAT_INTERVAL = int(os.environ.get("NAS_HEARTBEAT_INTERVAL", "10"))
HEARTBEAT_GRACE = int(os.environ.get("NAS_HEARTBEAT_GRACE", "60"))
MAX_RETRY = int(os.environ.get("NAS_MAX_RETRY", "3"))
SERVE_POLL = float(os.environ.get("NAS_SERVE_POLL", "5"))


class State(str, Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    STOPPING = "stopping"
    STOPPED = "stopped"


def make_storage(url: str) -> optuna.storages.RDBStorage:
    """One RDB storage per process, whose small pre-pinged pool nas shares."""
    storage = session.optuna_storage(
        url, skip_table_creation=True,
        heartbeat_interval=HEARTBEAT_INTERVAL, grace_period=HEARTBEAT_GRACE,
        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(MAX_RETRY))
    session.adopt_engine(url, storage.engine)
    return storage


class Worker:
    def __init__(self, url: str, study_names: list[str], threads: int,
                 max_trials: int | None = None, serve: bool = False):
        self.url, self.study_names, self.threads = url, study_names, threads
        self.max_trials, self.serve = max_trials, serve
        self.stop = STOP
        self.state = State.STARTING
        self.worker_id: int | None = None
        self.studies: dict[int, studies.StudyRow] = {}
        self.trials_run = 0
        self._optuna_studies: dict[int, optuna.Study] = {}
        self._next_reap = 0.0
        self.objective_seconds: list[float] = []
        self.bookkeeping: list[float] = []  # per trial: wall time outside the objective

    def work(self) -> int:
        self._install_signal_handlers()
        retrying(self.bootstrap, "worker start", stop=self.stop)
        try:
            with WorkerHeartbeat(self.url, self.worker_id, HEARTBEAT_INTERVAL):
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
            claim = retrying(self._next_claim, "claiming a trial", stop=self.stop)
            if claim is None:
                if not self.serve and not self._others_still_running():
                    log.info("no budget left in %d studies: exiting", len(self.studies))
                    break
                self.stop.wait(SERVE_POLL if self.serve else min(1.0, HEARTBEAT_INTERVAL / 2))
                continue
            self.objective_seconds.clear()
            self.run_trial(claim)
            self.bookkeeping.append(time.perf_counter() - started - sum(self.objective_seconds))

    def bootstrap(self) -> None:
        session.check_connection(self.url)
        schema.require_current(self.url)
        self._refresh_studies()
        for row in self.studies.values():
            if row.spec.objective:
                load_user_objective(row.spec.objective)  # fail at start, in one line
        self.storage = make_storage(self.url)
        self.worker_id = workers.register(self.url, os.getpid(), self.threads, __version__)
        log.info("worker %d started (threads=%d) on %s", self.worker_id, self.threads, mask(self.url))

    def _refresh_studies(self) -> None:
        rows = ([studies.require(self.url, n) for n in self.study_names]
                if self.study_names else studies.list_all(self.url))
        self.studies = {r.id: r for r in rows}

    def _next_claim(self) -> claims.Claim | None:
        """Fail stale trials and settle dead workers' claims everywhere we serve (at most
        once per heartbeat interval: nothing can go stale faster), then claim."""
        if time.monotonic() >= self._next_reap:
            self._reap()
        return claims.claim(self.url, list(self.studies), self.worker_id)

    def _reap(self) -> None:
        if not self.study_names:
            self._refresh_studies()  # studies may be added while workers run
        for row in self.studies.values():
            optuna.storages.fail_stale_trials(self.optuna_study(row))
        settled, to_retry = reaper.reap_dead_claims(self.url, list(self.studies), HEARTBEAT_GRACE,
                                                    MAX_RETRY)
        by_optuna_id = {r.optuna_study_id: r for r in self.studies.values()}
        for study_id, trial_id in to_retry:  # its failer died between FAIL and the retry
            study = self.optuna_study(by_optuna_id[study_id])
            optuna.storages.RetryHeartbeatStaleTrialCallback(MAX_RETRY)(
                study, self.storage.get_trial(trial_id))
            log.info("queued the retry a dead worker left undone (trial id %d)", trial_id)
        if any(settled.values()):
            log.info("settled claims of dead workers: %s", settled)
        for trial_id in reaper.orphan_trials(self.url, list(by_optuna_id), HEARTBEAT_GRACE):
            try:
                self.storage.set_trial_system_attr(trial_id, "nas_orphan", True)
                self.storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
                log.info("failed an orphaned trial (trial id %d) created during an outage", trial_id)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # another worker got there first
        self._next_reap = time.monotonic() + HEARTBEAT_INTERVAL

    def optuna_study(self, row: studies.StudyRow) -> optuna.Study:
        """One Study object per study for the worker's life: Optuna's cached storage and
        the sampler stay warm between trials."""
        from nas.worker.trial import sampler_for, pruner_for

        if row.id not in self._optuna_studies:
            self._optuna_studies[row.id] = optuna.load_study(
                study_name=row.name, storage=self.storage, sampler=sampler_for(row.spec.sampler),
                pruner=pruner_for(row.spec.pruner))
        return self._optuna_studies[row.id]

    def _others_still_running(self) -> bool:
        """Claims still held, or trials that may turn out orphaned: wait to settle them."""
        optuna_ids = [r.optuna_study_id for r in self.studies.values()]
        return retrying(lambda: claims.active_count(self.url, list(self.studies)) > 0
                        or reaper.unbound_running(self.url, optuna_ids) > 0,
                        "counting claims", stop=self.stop)

    def run_trial(self, claim: claims.Claim) -> None:
        from nas.worker.trial import run_one_trial

        self.state = State.BUSY
        outcome = run_one_trial(self, claim)
        retrying(lambda: claims.finish(self.url, claim.id, outcome), "closing a claim")
        self.trials_run += outcome == "done"
        retrying(lambda: workers.seen(self.url, self.worker_id), "worker status")
        self.state = State.IDLE

    def teardown(self) -> None:
        self.state = State.STOPPED
        if self.bookkeeping:
            cost = sorted(self.bookkeeping)
            log.info("worker summary: trials=%d bookkeeping_ms median=%.1f p99=%.1f",
                     len(cost), 1000 * cost[len(cost) // 2],
                     1000 * cost[min(len(cost) - 1, int(0.99 * len(cost)))])
        if self.worker_id is not None:
            try:
                workers.stopped(self.url, self.worker_id)
            except NasError as exc:
                log.warning("could not mark worker stopped: %s", exc)
        session.dispose_all()

    def _install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)

    def _request_stop(self, signum, frame) -> None:
        log.info("%s: finishing at the next generation boundary (again to force)",
                 signal.Signals(signum).name)
        self.stop.set()
        self.state = State.STOPPING
        signal.signal(signal.SIGTERM, self._force_stop)
        signal.signal(signal.SIGINT, self._force_stop)

    def _force_stop(self, signum, frame) -> None:
        log.warning("%s again: exiting now", signal.Signals(signum).name)
        os._exit(128 + signum)
