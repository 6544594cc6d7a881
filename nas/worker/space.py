"""The search space: what a trial samples for each mode (architecture + algorithm), as the
study's --fix / --range narrow it (nas.worker.narrow)."""
from __future__ import annotations

import functools
from typing import Any, Callable

import optuna

from nas.evolution.algorithms import ALGORITHMS
from nas.evolution.catalog import MAX_HIDDEN_LAYERS, MAX_NEURONS, MAX_UNITS
from nas.evolution.layout import layer_shapes
from nas.evolution.networks import ACTIVATIONS
from nas.evolution.tasks import task_class
from nas.spec import StudySpec
from nas.worker.narrow import Narrowed, check

RECURRENT = ["elman", "full"]


def suggest_pure(trial: optuna.Trial, spec: StudySpec) -> dict[str, Any]:
    """Architecture (recurrence, layers, units per layer, activation) and the algorithm.

    A fully recurrent net is one layer of `neurons`; the other kinds are layered."""
    task = task_class(spec.task)
    memory = task.needs_memory  # e.g. without velocities
    recurrence = trial.suggest_categorical("recurrence", RECURRENT if memory else ["none", *RECURRENT])
    if recurrence == "full":  # its first act_size neurons are the outputs: at least that many
        low = task.act_size
        hidden = [trial.suggest_int("neurons", low, max(MAX_NEURONS, low), log=True)]
    else:
        n_layers = trial.suggest_int("hidden_layers", 1 if recurrence == "elman" else 0,
                                     MAX_HIDDEN_LAYERS)
        hidden = [trial.suggest_int(f"units_{i}", 2, MAX_UNITS, log=True) for i in range(n_layers)]
    config = {
        "recurrent": recurrence,
        "mode": "pure",
        "task": spec.task,
        "population": spec.population,
        "hidden": hidden,
        "activation": trial.suggest_categorical("activation", sorted(ACTIVATIONS)),
        **_pure_algorithm(trial),
    }
    _, params = ALGORITHMS[config["algorithm"]]
    if hasattr(params, "population"):  # e.g. CMA-ES: -p or its own default size
        shapes = layer_shapes(task.obs_size, task.act_size, hidden, recurrence)
        config["population"] = params.population(trial, spec.population, shapes,
                                                 config["algorithm_params"])
    return config


def _pure_algorithm(trial: optuna.Trial) -> dict[str, Any]:
    """One of the registered algorithms, each with its own hyperparameters (conditional in
    the space, declared beside the algorithm's params: a new algorithm adds itself; one
    whose params class has `population` also picks the trial's population)."""
    algorithm = trial.suggest_categorical("algorithm", list(ALGORITHMS))
    sigma = trial.suggest_float("sigma", 0.01, 1.0, log=True)
    _, params = ALGORITHMS[algorithm]
    return {"algorithm": algorithm, "algorithm_params": params.suggest(trial, sigma)}


def suggest_neat(trial: optuna.Trial, spec: StudySpec) -> dict[str, Any]:
    """NEAT's speciation, mutation and reproduction hyperparameters (the topology evolves)."""
    recurrent = task_class(spec.task).needs_memory or trial.suggest_categorical("recurrent", [False, True])
    return {
        "mode": "neat",
        "task": spec.task,
        "population": spec.population,
        "algorithm_params": {
            "recurrent": recurrent,
            "activation": trial.suggest_categorical("neat_activation", ["sigmoid", "tanh"]),
            "c3": trial.suggest_float("c3", 0.1, 3.0, log=True),
            "compatibility_threshold": trial.suggest_float("compatibility_threshold", 1.0, 6.0),
            "weight_sigma": trial.suggest_float("weight_sigma", 0.05, 2.0, log=True),
            "weight_mutation_prob": trial.suggest_float("weight_mutation_prob", 0.5, 1.0),
            "add_node_prob": trial.suggest_float("add_node_prob", 0.005, 0.2, log=True),
            "add_connection_prob": trial.suggest_float("add_connection_prob", 0.01, 0.5, log=True),
            "survival_threshold": trial.suggest_float("survival_threshold", 0.1, 0.5),
            "crossover_rate": trial.suggest_float("neat_crossover_rate", 0.0, 0.9),
            "stagnation": trial.suggest_int("stagnation", 5, 30),
        },
    }


def narrowed(space: Callable[[optuna.Trial, StudySpec], dict[str, Any]]):
    """`space` as the study's spec narrows it (--fix, --range: nas.worker.narrow)."""
    @functools.wraps(space)
    def sample(trial: optuna.Trial, spec: StudySpec) -> dict[str, Any]:
        if spec.fix or spec.ranges:
            trial = Narrowed(trial, spec.fixed, spec.ranged)
        return space(trial, spec)
    return sample


# What a trial of each mode samples, narrowed by its spec; `check_space` before a study is
# created or resumed with --fix / --range.
SPACES = {"pure": narrowed(suggest_pure), "neat": narrowed(suggest_neat)}


def check_space(spec: StudySpec) -> None:
    """One NasError line when the spec's --fix / --range do not fit its mode's space."""
    check(spec, {"pure": suggest_pure, "neat": suggest_neat}[spec.mode])
