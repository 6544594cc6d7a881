"""The worker process: claim a slot, run one trial, repeat (after rq's `Worker.work`).

Lifecycle: bootstrap (storage, schema check, registry row) -> install signal handlers ->
loop, where every way out is its own `break` with its own log line -> teardown.

Shutdown is two-stage: the first SIGTERM/SIGINT asks the running trial to stop at its
next generation boundary; that trial is marked FAIL, re-queued with the same params
(Optuna's retry callback), and its budget claim released, so no trial is ever left
RUNNING. A second signal exits at once.
"""
from __future__ import annotations

import logging
import os
import signal
from enum import Enum

from nas import __version__
from nas.errors import NasError
from nas.store import claims, schema, session, studies, workers
from nas.store.url import mask
from nas.worker.objective import STOP

log = logging.getLogger("nas.worker")

HEARTBEAT_INTERVAL = int(os.environ.get("NAS_HEARTBEAT_INTERVAL", "10"))
HEARTBEAT_GRACE = int(os.environ.get("NAS_HEARTBEAT_GRACE", "60"))
MAX_RETRY = int(os.environ.get("NAS_MAX_RETRY", "3"))


class State(str, Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    STOPPING = "stopping"
    STOPPED = "stopped"


def make_storage(url: str):
    """One RDB storage per process, whose small pre-pinged pool nas shares."""
    import optuna

    storage = session.optuna_storage(
        url, skip_table_creation=True,
        heartbeat_interval=HEARTBEAT_INTERVAL, grace_period=HEARTBEAT_GRACE,
        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(MAX_RETRY))
    session.adopt_engine(url, storage.engine)
    return storage


class Worker:
    def __init__(self, url: str, study_names: list[str], threads: int, max_trials: int | None = None):
        self.url, self.study_names, self.threads = url, study_names, threads
        self.max_trials = max_trials
        self.stop = STOP
        self.state = State.STARTING
        self.worker_id: int | None = None
        self.trials_run = 0

    def work(self) -> int:
        self.bootstrap()
        self._install_signal_handlers()
        try:
            while True:
                if self.stop.is_set():
                    log.info("stop requested: leaving the loop")
                    break
                if self.max_trials is not None and self.trials_run >= self.max_trials:
                    log.info("ran %d trials (--max-trials): exiting", self.trials_run)
                    break
                claim = claims.claim(self.url, self.study_ids, self.worker_id)
                if claim is None:
                    log.info("no budget left in %d studies: exiting", len(self.study_ids))
                    break
                self.run_trial(claim)
        finally:
            self.teardown()
        return 0

    def bootstrap(self) -> None:
        session.check_connection(self.url)
        schema.require_current(self.url)
        rows = ([studies.require(self.url, n) for n in self.study_names]
                if self.study_names else studies.list_all(self.url))
        self.studies = {r.id: r for r in rows}
        self.study_ids = list(self.studies)
        self.storage = make_storage(self.url)
        self.worker_id = workers.register(self.url, os.getpid(), self.threads, __version__)
        log.info("worker %d started (threads=%d) on %s", self.worker_id, self.threads, mask(self.url))

    def run_trial(self, claim: claims.Claim) -> None:
        from nas.worker.trial import run_one_trial

        self.state = State.BUSY
        outcome = run_one_trial(self, claim)
        claims.finish(self.url, claim.id, outcome)
        self.trials_run += outcome == "done"
        workers.seen(self.url, self.worker_id)
        self.state = State.IDLE

    def teardown(self) -> None:
        self.state = State.STOPPED
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
