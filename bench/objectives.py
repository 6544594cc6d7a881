"""Objectives for benchmarks: nas's own space and engine at a fixed cost per trial."""
from nas.evolution import run_evolution
from nas.worker.objective import generation_reporter
from nas.worker.space import SPACES


def config_for(trial, spec):
    return SPACES[spec.mode](trial, spec)


def fixed_cost(trial, spec):
    """Seeds keep evolving after solving, so every trial costs generations x population x
    seeds x 500 steps, whatever the params: throughput comparisons stay fair."""
    seeds = [spec.base_seed + i for i in range(spec.seeds)]
    return run_evolution(config_for(trial, spec), spec.generations, seeds, spec.stagnation_limit,
                         on_generation=generation_reporter(trial, spec), stop_when_solved=False)
