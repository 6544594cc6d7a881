"""The objective a worker runs: sample a config, evolve every seed, return the value.

Each generation reports the value so far in the study's metric to the trial (what the
pruner compares across workers, and what `nas status` shows of a running trial), and is
the point where a stop request or a pruning decision takes effect.
"""
from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable

import optuna

from nas.evolution import EvolutionResult, run_evolution
from nas.evolution.checkpoint import CheckpointError
from nas.references import load_user_objective
from nas.spec import StudySpec
from nas.store.checkpoints import CheckpointRow
from nas.worker.checkpoints import LineageCheckpoint
from nas.worker.stop import STOP
from nas.worker.space import SPACES

log = logging.getLogger("nas.worker")

Objective = Callable[[optuna.Trial], float]

class StopRequested(Exception):
    """Raised at a generation boundary after SIGTERM/SIGINT; the trial is retried elsewhere."""


class PrunedWithResults(optuna.TrialPruned):
    """Optuna's pruned signal carrying the evolution so far, so a pruned trial still
    keeps its seeds' rows (raise it from your own `on_generation` to get the same)."""

    def __init__(self, message: str, results: EvolutionResult):
        super().__init__(message)
        self.results = results


Recorder = Callable[[optuna.Trial, EvolutionResult], None]


@dataclass(frozen=True)
class Runtime:
    """Where this worker evolves a trial: its device, engine and the trial lineage's
    checkpoint. Set around every objective call, so that `evolve()` in a user's own
    objective gets the same as nas's."""
    device: str = "cpu"
    engine: str | None = None  # None: run_evolution's default
    checkpoint: LineageCheckpoint | None = None


_RUNTIME: ContextVar[Runtime] = ContextVar("nas_runtime", default=Runtime())


def build_objective(spec: StudySpec, on_start: Callable[[optuna.Trial], None],
                    record: Recorder, spent: list[float] | None = None,
                    on_failure: Callable[[optuna.Trial, Exception], None] | None = None,
                    runtime: Runtime = Runtime()) -> Objective:
    """The trial's function; `record` stores per-seed rows of finished and pruned trials,
    `spent` collects the seconds spent inside the user's (or our) objective proper, so the
    worker can tell its own bookkeeping cost apart. `on_failure` sees an exception while
    the trial is still RUNNING (and writable), before Optuna fails it. `runtime` is where
    the trial evolves (device, engine, checkpoint)."""
    user = load_user_objective(spec.objective) if spec.objective else own_objective

    def objective(trial: optuna.Trial) -> float:
        on_start(trial)
        started = time.perf_counter()
        token = _RUNTIME.set(runtime)
        try:
            result = user(trial, spec)
        except PrunedWithResults as exc:
            record(trial, exc.results)
            raise
        except (optuna.TrialPruned, StopRequested):
            raise
        except Exception as exc:
            if on_failure is not None:
                on_failure(trial, exc)
            raise
        finally:
            _RUNTIME.reset(token)
            if spent is not None:
                spent.append(time.perf_counter() - started)
        if isinstance(result, EvolutionResult):
            record(trial, result)
            return result.score(spec.metric)
        return float(result)

    return objective


def own_objective(trial: optuna.Trial, spec: StudySpec) -> EvolutionResult:
    """nas's objective: a config from the study's search space, evolved."""
    return evolve(trial, spec, SPACES[spec.mode](trial, spec))


def evolve(trial: optuna.Trial, spec: StudySpec, config: dict,
           before_report: Callable[[int, EvolutionResult], None] | None = None,
           **run_options) -> EvolutionResult:
    """Evolve `config` for every seed of the study's spec as nas's own objective does:
    reported every generation (the pruner, `nas status`), stopped at a generation
    boundary on request, and checkpointed, so that an interrupted trial's retry continues
    from its lineage's last checkpoint, bit for bit. Public: a user's objective that
    returns `evolve(trial, spec, my_config)` gets all of that. `before_report(generation,
    so_far)` runs first at each boundary; `run_options` go to run_evolution."""
    runtime = _RUNTIME.get()
    checkpoint = runtime.checkpoint
    saved = checkpoint.start(trial, config) if checkpoint is not None else None
    options = {"device": runtime.device, "engine": runtime.engine, **run_options}

    def run(resume: CheckpointRow | None) -> EvolutionResult:
        reported = replay(trial, resume.reported) if resume else []
        reporter = generation_reporter(trial, spec, checkpoint, reported)
        if before_report is not None:
            reporter = _before(before_report, reporter)
        result = run_evolution(config, spec.generations,
                               [spec.base_seed + i for i in range(spec.seeds)],
                               spec.stagnation_limit, on_generation=reporter,
                               resume=resume.payload if resume else None, **options)
        if resume and len(reported) == len(resume.reported):  # nothing was left to run
            trial.storage.set_trial_system_attr(trial._trial_id, "nas_resumed_from",
                                                resume.generation + 1)
        return result
    if saved is None:
        return run(None)
    try:
        return run(saved)
    except CheckpointError as exc:
        log.warning("checkpoint of trial %d unusable (%s): starting from generation 0",
                    trial.number, exc)
        checkpoint.discard()
        return run(None)


def _before(first: Callable, then: Callable) -> Callable:
    def both(generation: int, so_far: EvolutionResult) -> None:
        first(generation, so_far)
        then(generation, so_far)
    return both


def replay(trial: optuna.Trial, reported: list) -> list:
    """Report again what the lineage reported before its checkpoint (this retry is a new
    Optuna trial): the pruner sees the curve an uninterrupted run would have shown."""
    for step, value in reported:
        trial.report(value, int(step))
    return [list(item) for item in reported]


def generation_reporter(trial: optuna.Trial, spec: StudySpec,
                        checkpoint: LineageCheckpoint | None = None,
                        reported: list | None = None) -> Callable[[int, Any], None]:
    """The `on_generation` callback for run_evolution: report the value so far in the
    study's metric (so the pruner compares like with like), honour pruning and stop
    requests, and keep the lineage's checkpoint: on a stop request (then the trial is
    released, to continue elsewhere from here) and every checkpoint interval.

    Public so that a user's own objective built on `run_evolution` behaves like ours.
    """
    prune = spec.pruner != "none"
    reported = [] if reported is None else reported
    resumed = bool(reported)  # a retry that continues its lineage's checkpoint

    def on_generation(generation: int, so_far: EvolutionResult) -> None:
        nonlocal resumed
        if resumed:  # the checkpoint was usable: say where this attempt took over
            trial.storage.set_trial_system_attr(trial._trial_id, "nas_resumed_from", generation)
            resumed = False
        # Through a database outage the trial waits in these calls rather than fail, as
        # any objective's trial writes do (nas.store.optuna_storage): its work is kept.
        value = so_far.score(spec.metric)
        trial.report(value, generation)
        reported.append([generation, value])
        if prune and trial.should_prune():
            raise PrunedWithResults(f"pruned at generation {generation}", so_far)
        # a stop at the last generation lets the trial finish: there is nothing to resume
        stopping = STOP.is_set() and generation + 1 < spec.generations
        if checkpoint is not None and (stopping or checkpoint.due()):
            checkpoint.save(generation, reported, so_far.checkpoint())
        if stopping:
            preempt(trial, f"generation {generation}")
    return on_generation


def saved_state(trial: optuna.Trial) -> bytes | None:
    """For your own `--objective`: the state your lineage last saved with `save_state`
    (a retry of an interrupted trial gets it; its earlier reports are replayed first, so
    the pruner sees the whole curve), or None: start from the beginning."""
    checkpoint = _RUNTIME.get().checkpoint
    if checkpoint is None:
        return None
    row = checkpoint.start(trial, dict(trial.params))
    if row is None:
        return None
    replay(trial, row.reported)
    trial.storage.set_trial_system_attr(trial._trial_id, "nas_resumed_from", row.generation + 1)
    return row.payload


def save_state(trial: optuna.Trial, step: int, state: bytes | Callable[[], bytes]) -> None:
    """For your own `--objective`, at a step boundary (after `trial.report(value, step)`):
    keep `state` (bytes: whatever your objective needs to continue after `step`; or a
    function that makes them, called only when a save is due) as the lineage's
    checkpoint, replacing the last, when the checkpoint interval has passed
    (NAS_CHECKPOINT_SECONDS; call it every step, it costs nothing in between). When the
    worker was asked to stop, it always saves, and the trial stops here, to continue
    elsewhere from `state`."""
    checkpoint = _RUNTIME.get().checkpoint
    stopping = STOP.is_set()
    if checkpoint is None and stopping:  # checkpoints off: stop here, restart from 0
        preempt(trial, f"step {step}")
    if checkpoint is None or not (stopping or checkpoint.due()):
        return
    if checkpoint.lineage is None:
        checkpoint.start(trial, dict(trial.params))
    values = trial.storage.get_trial(trial._trial_id).intermediate_values
    checkpoint.save(step, [[k, values[k]] for k in sorted(values)],
                    state() if callable(state) else state)
    if stopping:
        preempt(trial, f"step {step}")


def preempt(trial: optuna.Trial, where: str) -> None:
    """Stop the trial here on the worker's stop request (its checkpoint just written): an
    announced interruption, shown as preempted rather than failed."""
    trial.storage.set_trial_system_attr(trial._trial_id, "nas_preempted", True)
    raise StopRequested(f"stop requested at {where}")
