"""The objective a worker runs: sample a config, evolve every seed, return the value.

Each generation reports the mean over seeds of best-so-far fitness to the trial (what
the pruner compares across workers), and is the point where a stop request or a
pruning decision takes effect.
"""
from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from typing import Any, Callable

import optuna

from nas.errors import NasError
from nas.evolution import EvolutionResult, run_evolution
from nas.store.studies import StudySpec
from nas.worker.space import SPACES

Objective = Callable[[optuna.Trial], float]

# One worker per process: the signal handler sets this, generation boundaries read it.
STOP = threading.Event()


class StopRequested(Exception):
    """Raised at a generation boundary after SIGTERM/SIGINT; the trial is retried elsewhere."""


def load_user_objective(ref: str) -> Callable[[optuna.Trial, StudySpec], Any]:
    """Import `package.module:function`, with a one-line error when it cannot."""
    module_name, _, func_name = ref.partition(":")
    if not module_name or not func_name:
        raise NasError(f"--objective must look like package.module:function, got {ref!r}")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # as `python -m` would: your project dir is importable
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise NasError(f"cannot import objective module {module_name!r}: {exc}") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise NasError(f"objective {ref!r}: {module_name} has no function {func_name!r}")
    return func


Recorder = Callable[[optuna.Trial, EvolutionResult], None]


def build_objective(spec: StudySpec, on_start: Callable[[optuna.Trial], None],
                    record: Recorder, spent: list[float] | None = None) -> Objective:
    """The trial's function; `record` stores per-seed rows of finished and pruned trials,
    `spent` collects the seconds spent inside the user's (or our) objective proper, so the
    worker can tell its own bookkeeping cost apart."""
    user = load_user_objective(spec.objective) if spec.objective else _own_objective

    def objective(trial: optuna.Trial) -> float:
        on_start(trial)
        started = time.perf_counter()
        try:
            result = user(trial, spec)
        except optuna.TrialPruned as exc:
            if getattr(exc, "evolution_result", None) is not None:
                record(trial, exc.evolution_result)
            raise
        finally:
            if spent is not None:
                spent.append(time.perf_counter() - started)
        if isinstance(result, EvolutionResult):
            record(trial, result)
            return result.value
        return float(result)

    return objective


def _own_objective(trial: optuna.Trial, spec: StudySpec) -> EvolutionResult:
    config = SPACES[spec.mode](trial, spec)
    seeds = [spec.base_seed + i for i in range(spec.seeds)]
    return run_evolution(config, spec.generations, seeds, spec.stagnation_limit,
                         device=os.environ.get("NAS_DEVICE", "cpu"),
                         on_generation=generation_reporter(trial, spec))


def generation_reporter(trial: optuna.Trial, spec: StudySpec) -> Callable[[int, float], None]:
    """The `on_generation` callback for run_evolution: report, honour stop and pruning.

    Public so that a user's own objective built on `run_evolution` behaves like ours.
    """
    prune = spec.pruner != "none"

    def on_generation(generation: int, value: float) -> None:
        if STOP.is_set():
            raise StopRequested(f"stop requested at generation {generation}")
        trial.report(value, generation)
        if prune and trial.should_prune():
            raise optuna.TrialPruned(f"pruned at generation {generation}")
    return on_generation
