"""The objective a worker runs: sample a config, evolve every seed, return the value.

Each generation reports the value so far in the study's metric to the trial (what the
pruner compares across workers, and what `nas status` shows of a running trial), and is
the point where a stop request or a pruning decision takes effect.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import optuna

from nas.evolution import EvolutionResult, run_evolution
from nas.references import load_user_objective
from nas.spec import StudySpec
from nas.worker.stop import STOP
from nas.worker.space import SPACES

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


def build_objective(spec: StudySpec, on_start: Callable[[optuna.Trial], None],
                    record: Recorder, spent: list[float] | None = None,
                    on_failure: Callable[[optuna.Trial, Exception], None] | None = None,
                    device: str = "cpu", engine: str = "kernel") -> Objective:
    """The trial's function; `record` stores per-seed rows of finished and pruned trials,
    `spent` collects the seconds spent inside the user's (or our) objective proper, so the
    worker can tell its own bookkeeping cost apart. `on_failure` sees an exception while
    the trial is still RUNNING (and writable), before Optuna fails it. `device` and
    `engine` (the worker's settings) are where nas's own objective evolves."""
    user = (load_user_objective(spec.objective) if spec.objective
            else own_objective(device, engine))

    def objective(trial: optuna.Trial) -> float:
        on_start(trial)
        started = time.perf_counter()
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
            if spent is not None:
                spent.append(time.perf_counter() - started)
        if isinstance(result, EvolutionResult):
            record(trial, result)
            return result.score(spec.metric)
        return float(result)

    return objective


def own_objective(device: str = "cpu", engine: str = "kernel") -> Callable[..., EvolutionResult]:
    """nas's objective: the study's search space, evolved on `device` with `engine`."""
    def objective(trial: optuna.Trial, spec: StudySpec) -> EvolutionResult:
        config = SPACES[spec.mode](trial, spec)
        seeds = [spec.base_seed + i for i in range(spec.seeds)]
        return run_evolution(config, spec.generations, seeds, spec.stagnation_limit,
                             device=device, engine=engine,
                             on_generation=generation_reporter(trial, spec))
    return objective


def generation_reporter(trial: optuna.Trial, spec: StudySpec) -> Callable[[int, Any], None]:
    """The `on_generation` callback for run_evolution: report the value so far in the
    study's metric (so the pruner compares like with like), honour stop and pruning.

    Public so that a user's own objective built on `run_evolution` behaves like ours.
    """
    prune = spec.pruner != "none"

    def on_generation(generation: int, so_far: EvolutionResult) -> None:
        if STOP.is_set():
            raise StopRequested(f"stop requested at generation {generation}")
        # Through a database outage the trial waits in these calls rather than fail, as
        # any objective's trial writes do (nas.store.optuna_storage): its work is kept.
        trial.report(so_far.score(spec.metric), generation)
        if prune and trial.should_prune():
            raise PrunedWithResults(f"pruned at generation {generation}", so_far)
    return on_generation
