"""One claimed trial: load the study, optimize once, then settle the claim.

Settling looks at what the database says happened, not at what this process believes:

    finished normally (COMPLETE, PRUNED, or FAIL from the objective) -> claim 'done'
    interrupted (stop signal, or the database was lost mid-trial)      -> the trial is
        marked FAIL if still RUNNING, a retry with the same params is queued unless one
        already was (by another worker's heartbeat check), and the claim is 'released'
    our late tell refused because the trial was failed meanwhile     -> logged, dropped
"""
from __future__ import annotations

import logging

import optuna
from optuna.trial import TrialState

from nas.store import claims, reaper, results, workers
from nas.store.retry import is_unavailable, retrying
from nas.store.session import session_scope
from nas.worker.objective import StopRequested, build_objective

log = logging.getLogger("nas.worker")


def sampler_for(name: str):
    samplers = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}
    return samplers[name]()


def pruner_for(name: str):
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)


def run_one_trial(worker, claim: claims.Claim) -> str:
    """Returns the claim's end state: 'done' or 'released'."""
    row = worker.studies[claim.study_id]
    study = retrying(lambda: worker.optuna_study(row), "loading the study", stop=worker.stop)
    started: list[int] = []

    def on_start(trial: optuna.Trial) -> None:
        started.append(trial._trial_id)
        retrying(lambda: claims.bind_trial(worker.url, claim.id, trial._trial_id), "binding the claim")
        workers.seen(worker.url, worker.worker_id, claim.study_id, trial._trial_id)

    def record(trial: optuna.Trial, result) -> None:
        retrying(lambda: results.record(worker.url, claim.study_id, trial._trial_id, trial.number,
                                        result.seeds), "recording results")

    interrupted = False
    try:
        study.optimize(build_objective(row.spec, on_start, record, worker.objective_seconds), n_trials=1,
                       gc_after_trial=False)
    except StopRequested:
        interrupted = True
    except Exception as exc:
        if _late(exc):
            log.warning("late result for a trial of %s dropped: it was failed by heartbeat "
                        "while this worker was cut off", row.name)
            return _settle_retrying(worker, study, row, started, interrupted=False)
        interrupted = is_unavailable(exc)
        what = "database lost during a trial" if interrupted else "trial failed"
        log.error("%s of %s: %s: %s", what, row.name, type(exc).__name__, str(exc).splitlines()[0])
    return _settle_retrying(worker, study, row, started, interrupted)


def _late(exc: BaseException | None) -> bool:
    """Our report or tell hit a trial someone else already finished (failed by heartbeat).
    Optuna surfaces that as UpdateFinishedTrialError, possibly wrapped, or, when it tries
    to record the objective's failure, as ValueError('Cannot tell a FAIL trial...')."""
    while exc is not None:
        if isinstance(exc, optuna.exceptions.UpdateFinishedTrialError):
            return True
        if isinstance(exc, ValueError) and str(exc).startswith("Cannot tell a"):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _settle_retrying(worker, study, row, started: list[int], interrupted: bool) -> str:
    if not started:
        return "released"
    return retrying(lambda: settle(worker.url, worker.storage, study, row.optuna_study_id,
                                   started[0], interrupted), "settling a trial")


def settle(url: str, storage, study: optuna.Study, optuna_study_id: int, trial_id: int,
           interrupted: bool) -> str:
    frozen = storage.get_trial(trial_id)
    if frozen.state == TrialState.RUNNING or (interrupted and frozen.state == TrialState.FAIL):
        _fail_for_retry(url, storage, study, optuna_study_id, frozen)
        return "released"
    with session_scope(url) as session:
        return reaper.claim_outcome(session, frozen.state.name, optuna_study_id, frozen.number)


def _fail_for_retry(url: str, storage, study, optuna_study_id: int, frozen) -> None:
    if frozen.state == TrialState.RUNNING:
        try:
            storage.set_trial_state_values(frozen._trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another worker's heartbeat check failed it first
        frozen = storage.get_trial(frozen._trial_id)
    with session_scope(url) as session:
        already = reaper.was_retried(session, optuna_study_id, frozen.number)
    if frozen.state == TrialState.FAIL and not already:
        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=None)(study, frozen)
        log.info("trial %d of %s interrupted: queued for retry", frozen.number, study.study_name)
