"""How much memory one trial of a spec can need, checked when the study is created.

A spec whose trials cannot fit (`-p 100000000`, `-s 1000000`) would otherwise be accepted
and every trial fail on allocation, eating the budget. The estimate is an upper bound at
the search space's largest networks, from what a generation holds per individual:

    pure   48 bytes per network parameter (the population, offspring, noise, elites and
           CoSyNE's float64 permutation keys) + 1,500 bytes of episode state
    neat   32 KB per genome (its genes as Python objects and its padded compiled rows)

times population x seeds (seeds are evolved as one batch). The limit is this machine's
memory, or NAS_TRIAL_MEMORY_LIMIT_GB where the workers are bigger than the coordinator.
Torch-free: `nas study create` runs it without loading the engine.
"""
from __future__ import annotations

import os

from nas import defaults
from nas.errors import NasError
from nas.evolution.catalog import MAX_HIDDEN_LAYERS, MAX_NEURONS, MAX_UNITS, TASK_SIZES
from nas.evolution.layout import n_params

BYTES_PER_PARAM = 48
EPISODE_BYTES = 1_500
NEAT_GENOME_BYTES = 32_000


def max_pure_params(n_in: int, n_out: int) -> int:
    """The most parameters a pure network of the search space can have: its deepest,
    widest Elman net or its largest fully recurrent one (nas.worker.space draws within
    these), counted by the networks' own layout."""
    deepest = n_params(n_in, n_out, [MAX_UNITS] * MAX_HIDDEN_LAYERS, "elman")
    return max(deepest, n_params(n_in, n_out, [max(MAX_NEURONS, n_out)], "full"))


def _task_sizes(task: str) -> tuple[int, int]:
    """A built-in task's sizes from the catalog (no torch); a gym: or module:Class task's
    from its class (nas.evolution.tasks resolves it: torch, gymnasium or your module)."""
    if task in TASK_SIZES:
        return TASK_SIZES[task]
    from nas.evolution.tasks import task_sizes

    return task_sizes(task)


def trial_bytes(mode: str, task: str, population: int, seeds: int) -> int:
    n_in, n_out = _task_sizes(task)
    per = (NEAT_GENOME_BYTES if mode == "neat"
           else BYTES_PER_PARAM * max_pure_params(n_in, n_out) + EPISODE_BYTES)
    return per * population * seeds


def memory_limit() -> int:
    """`NAS_TRIAL_MEMORY_LIMIT_GB` where set (the workers' machines may differ from this
    one), else this machine's memory."""
    limit = defaults.trial_memory_limit()
    return limit if limit is not None else os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(spec) -> None:
    """Refuse, in one line, a spec whose trials cannot fit (user objectives: not sized)."""
    if spec.objective:
        return
    need, limit = trial_bytes(spec.mode, spec.task, spec.population, spec.seeds), memory_limit()
    if need > limit:
        raise NasError(
            f"a trial of this spec needs up to {need / 2 ** 30:,.1f} GB (population "
            f"{spec.population:,} x {spec.seeds:,} seeds at the search space's largest "
            f"networks), more than the {limit / 2 ** 30:,.1f} GB here: lower -p or -s, or set "
            f"{defaults.ENV_MEMORY_LIMIT} where the workers have more")
