"""One claimed trial: optimize once, then settle the claim.

Settling looks at what the database says happened, not at what this process believes:

    finished normally (COMPLETE, PRUNED, or FAIL from the objective) -> claim done
    interrupted (stop signal, or the database was lost mid-trial)      -> the trial is
        marked FAIL if still RUNNING, a retry with the same params is queued unless one
        already was (by another worker's heartbeat check), and the claim is released
        (done instead when the trial is out of retries)
    our late tell refused because the trial was failed meanwhile     -> logged, dropped
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import optuna
from optuna.trial import TrialState

from nas import defaults
from nas.causes import find_cause
from nas.store import Store
from nas.store.claims import Claim, ClaimEnd, claim_end_for
from nas.store.errors import describe, is_unavailable, root_cause
from nas.store.retry import retrying
from nas.store.studies import StudyRow
from nas.store.workers import WorkerState
from nas.worker.checkpoints import LineageCheckpoint, progressed_attempts
from nas.worker.objective import Runtime, StopRequested, build_objective
from nas.worker.retries import requeue_interrupted
from nas.worker.settings import WorkerSettings

log = logging.getLogger("nas.worker")
T = TypeVar("T")


@dataclass(frozen=True)
class TrialContext:
    """What running a trial needs from its worker, handed over explicitly."""
    store: Store
    storage: Any  # the worker's Optuna RDB storage (nas.store.optuna_storage)
    settings: WorkerSettings
    worker_id: int
    stop: threading.Event

    def retrying(self, call: Callable[[], T], what: str, interruptible: bool = True) -> T:
        """Ride out a database outage for the settings' limit; a stop request ends the
        wait where `interruptible` (settling and closing always finish)."""
        return retrying(call, what, self.settings.db_retry_seconds,
                        self.stop if interruptible else None)


def _compile_kernels(ctx: TrialContext, claim: Claim, row: StudyRow) -> None:
    """On a machine without compiled kernels, compile them before the trial starts, saying
    so in the log and in nas.workers (`nas status`), rather than inside a trial that
    would sit at generation 0 with no word."""
    from nas.evolution.kernels.warm import COMPILING, compiles_first

    s = ctx.settings
    if not compiles_first(row.spec.task, row.spec.objective, s.engine, s.device):
        return
    ctx.retrying(lambda: ctx.store.worker_seen(ctx.worker_id, WorkerState.COMPILING, claim.study_id),
                 "saying the kernels compile", interruptible=False)
    log.info("%s", COMPILING)
    from nas.evolution.kernels.warm import ensure_compiled

    ensure_compiled()


def run_one_trial(ctx: TrialContext, claim: Claim, row: StudyRow, study: optuna.Study,
                  spent: list[float], vanished: Callable[[int], bool]) -> ClaimEnd:
    """Run the claimed slot's trial; returns how its claim ends. `spent` collects the
    seconds inside the objective; `vanished(study id)` says whether the study was deleted."""
    started: list[int] = []
    _compile_kernels(ctx, claim, row)

    def on_start(trial: optuna.Trial) -> None:
        started.append(trial._trial_id)

        def bind() -> None:
            with ctx.store.transaction():  # the claim and the registry say the same, together
                ctx.store.bind_trial(claim.id, trial._trial_id)
                ctx.store.worker_seen(ctx.worker_id, WorkerState.BUSY, claim.study_id,
                                      trial._trial_id)
        ctx.retrying(bind, "binding the claim", interruptible=False)

    def record(trial: optuna.Trial, result) -> None:
        ctx.retrying(lambda: ctx.store.record_results(claim.study_id, trial._trial_id,
                                                      trial.number, result.seeds),
                     "recording results", interruptible=False)
        set_result_attrs(trial, result)  # trial writes: the storage waits through outages

    def on_failure(trial: optuna.Trial, exc: Exception) -> None:
        if not (out_of_memory(exc) or is_unavailable(exc)):
            ctx.retrying(lambda: _mark_if_no_work(ctx.storage, trial._trial_id),
                         "marking a failure", interruptible=False)

    checkpoint = None if ctx.settings.checkpoint_seconds is None else LineageCheckpoint(
        ctx.store, claim.study_id, ctx.settings.checkpoint_seconds,
        lambda call, what: ctx.retrying(call, what, interruptible=False))
    runtime = Runtime(ctx.settings.device, ctx.settings.engine, checkpoint)
    objective = build_objective(row.spec, on_start, record, spent, on_failure, runtime)
    end = _attempt(ctx, claim, row, study, objective, started, vanished)
    if end is ClaimEnd.DONE and checkpoint is not None:
        checkpoint.discard()  # the lineage finished: its checkpoint has served
    return end


def _attempt(ctx: TrialContext, claim: Claim, row: StudyRow, study: optuna.Study, objective,
             started: list[int], vanished: Callable[[int], bool]) -> ClaimEnd:
    interrupted = False
    try:
        study.optimize(objective, n_trials=1, gc_after_trial=False)
    except StopRequested:
        interrupted = True
    except Exception as exc:
        if vanished(claim.study_id):
            return ClaimEnd.RELEASED  # deleted mid-trial: nothing left to settle or retry
        if _late(exc):
            log.warning("late result for a trial of %s dropped: it was failed by heartbeat "
                        "while this worker was cut off", row.name)
            return _settle_retrying(ctx, study, row, started, interrupted=False)
        interrupted = _log_failure(row, exc)
        if not interrupted:
            ctx.retrying(lambda: _pause_if_broken(ctx.store, row, exc), "checking failures",
                         interruptible=False)
    return _settle_retrying(ctx, study, row, started, interrupted)


def _log_failure(row: StudyRow, exc: Exception) -> bool:
    """Log why the objective raised; True when that interrupted the trial (this worker ran
    out of memory or lost the database) rather than the config failing."""
    oom = out_of_memory(exc)
    interrupted = oom or is_unavailable(exc)
    what = ("out of memory on this worker (the trial is re-queued for another)" if oom else
            "database lost during a trial" if interrupted else "trial failed")
    # the driver's error, not what Optuna raised on top of it (an UnboundLocalError
    # when its own FAIL write failed too, a StorageInternalError's generic text)
    cause = root_cause(exc) if interrupted and not oom else exc
    text = describe(cause) if cause is not exc else _first_line(exc)
    log.error("%s of %s: %s: %s", what, row.name, type(cause).__name__, text)
    return interrupted


def _first_line(exc: BaseException) -> str:
    lines = str(exc).splitlines()
    return lines[0] if lines else ""


def _mark_if_no_work(storage, trial_id: int) -> None:
    """A trial that failed before reporting anything is marked `nas_failed_at_once` (while
    still RUNNING: Optuna refuses attributes on finished trials). One that reported did
    some work: a config that failed, which the sampler learns from."""
    if not storage.get_trial(trial_id).intermediate_values:
        storage.set_trial_system_attr(trial_id, "nas_failed_at_once", True)


def _pause_if_broken(store: Store, row: StudyRow, exc: BaseException) -> None:
    """When the study's first `FAILED_AT_ONCE_LIMIT` trials all failed before doing any
    work (and none ever worked), the study is paused with the reason, so a broken
    objective costs a few trials, not the budget."""
    limit = defaults.FAILED_AT_ONCE_LIMIT
    if store.failed_at_once(row.optuna_study_id) < limit:
        return
    reason = (f"its first {limit} trials all failed before reporting anything "
              f"({type(exc).__name__}: {_first_line(exc)}); fix the objective or task, then "
              f"`nas study resume {row.name}`")
    store.set_paused(row.name, True, reason)
    log.error("study %s paused: %s", row.name, reason)


def set_result_attrs(trial: optuna.Trial, result) -> None:
    """Per-seed results and the success rate as trial user attributes, so Optuna's own
    tools (optuna-dashboard, `study.trials_dataframe()`) show them beside the value."""
    trial.set_user_attr("success_rate", result.success_rate)
    trial.set_user_attr("seeds", [
        {"seed": s.seed, "best_fitness": s.best_fitness, "evaluations": s.evaluations,
         "solved_generation": s.solved_generation, "solved_evaluations": s.solved_evaluations,
         "generations": s.generations} for s in result.seeds])


_OOM = ("can't allocate memory", "out of memory", "not enough memory")


def out_of_memory(exc: BaseException | None) -> bool:
    """The machine ran out, not the config: a failure of this worker, so the trial is
    retried (capped, like any interruption) rather than counted as a finished failure."""
    return find_cause(exc, _is_oom) is not None


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and any(needle in str(exc).lower() for needle in _OOM))


def _late(exc: BaseException | None) -> bool:
    """Our report or tell hit a trial someone else already finished (failed by heartbeat).
    Optuna surfaces that as UpdateFinishedTrialError, possibly wrapped, or, when it tries
    to record the objective's failure, as ValueError('Cannot tell a FAIL trial...')."""
    return find_cause(exc, _is_late) is not None


def _is_late(exc: BaseException) -> bool:
    return isinstance(exc, optuna.exceptions.UpdateFinishedTrialError) or (
        isinstance(exc, ValueError) and str(exc).startswith("Cannot tell a"))


def _settle_retrying(ctx: TrialContext, study: optuna.Study, row: StudyRow,
                     started: list[int], interrupted: bool) -> ClaimEnd:
    if not started:
        return ClaimEnd.RELEASED
    return ctx.retrying(lambda: settle(ctx, study, row.optuna_study_id, started[0], interrupted),
                        "settling a trial", interruptible=False)


def settle(ctx: TrialContext, study: optuna.Study, optuna_study_id: int, trial_id: int,
           interrupted: bool) -> ClaimEnd:
    frozen = ctx.storage.get_trial(trial_id)
    if frozen.state == TrialState.RUNNING or (interrupted and frozen.state == TrialState.FAIL):
        return _fail_for_retry(ctx, study, optuna_study_id, frozen)
    state = frozen.state.name
    return claim_end_for(state, state == "FAIL" and ctx.store.was_retried(optuna_study_id,
                                                                           frozen.number),
                         orphan=bool(frozen.system_attrs.get("nas_orphan")))


def _fail_for_retry(ctx: TrialContext, study: optuna.Study, optuna_study_id: int,
                    frozen) -> ClaimEnd:
    """Fail an interrupted trial (unless someone did) and make sure exactly one retry of
    it is queued; released, or done when it is out of retries."""
    if frozen.state == TrialState.RUNNING:
        try:
            ctx.storage.set_trial_state_values(frozen._trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another worker's heartbeat check failed it first
        frozen = ctx.storage.get_trial(frozen._trial_id)
    if frozen.state != TrialState.FAIL:
        return claim_end_for(frozen.state.name, was_retried=False)  # not FAIL: no question
    if ctx.store.was_retried(optuna_study_id, frozen.number) or \
            requeue_interrupted(study, frozen, ctx.settings.max_retry,
                                progressed_attempts(ctx.store, study, frozen)):
        return ClaimEnd.RELEASED
    return ClaimEnd.DONE

