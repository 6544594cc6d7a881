"""Which metric tells configurations apart: `fitness` against `evaluations` on the double pole.

Part 1: the same configurations (drawn from the pure search space by a seeded random
sampler), each evolved once on the scoring seeds 0..S-1 and scored both ways from that
one run: how many distinct values each metric gives, and Spearman's rank correlation of
each metric with the evaluations to solve measured on fresh seeds 100.. of the same
config (sign-adjusted so that +1 means "ranks configs as the held-out runs do").

Part 2: a TPE study per metric and mode (in-process, no database: this measures the
search signal, not the infrastructure); the best trial's configuration is then evolved
on the fresh seeds: solved runs, median and mean evaluations to solve, beside the
published figures for the same task (NEAT 3,600, CoSyNE 954 evaluations).

Named metric_signal.py, not signal.py: a script's directory is first on sys.path, and a
bench/signal.py would shadow the standard library's `signal` for everything it imports.
Run: python bench/metric_signal.py [--configs 24 --trials 40 --holdout 10]
"""
from __future__ import annotations

import argparse
import statistics
import time

import optuna
import torch

from _support import parse_args
from nas.evolution import run_evolution
from nas.spec import StudySpec
from nas.worker.space import SPACES

PUBLISHED = {"double-pole": "NEAT 3,600, CoSyNE 954", "cartpole": "-"}


def ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    var = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return cov / var if var else float("nan")


def spec_for(args, mode: str, metric: str) -> StudySpec:
    return StudySpec(mode=mode, task=args.task, generations=args.generations, seeds=args.seeds,
                     population=args.population, metric=metric)


def evolve(config: dict, spec: StudySpec, seeds: list[int]):
    return run_evolution(config, spec.generations, seeds, spec.stagnation_limit)


def held_out(config: dict, spec: StudySpec, args) -> tuple[float, list[int]]:
    """(evaluations metric over the fresh seeds, evaluations of each solved fresh seed)."""
    result = evolve(config, spec, [100 + i for i in range(args.holdout)])
    return result.score("evaluations"), [s.solved_evaluations for s in result.seeds
                                         if s.solved_evaluations is not None]


def part_one(args) -> None:
    spec = spec_for(args, "pure", "evaluations")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    fitness, evaluations, truth = [], [], []
    for _ in range(args.configs):
        trial = study.ask()
        config = SPACES["pure"](trial, spec)
        result = evolve(config, spec, list(range(args.seeds)))
        fitness.append(result.score("fitness"))
        evaluations.append(result.score("evaluations"))
        truth.append(held_out(config, spec, args)[0])
        study.tell(trial, evaluations[-1])
    print(f"\npart 1: {args.configs} configs of the pure space on {args.task}, population "
          f"{args.population}, {args.generations} generations, {args.seeds} scoring seeds, "
          f"{args.holdout} held-out seeds")
    print(f"{'metric':12} {'distinct values':>16} {'spearman vs held-out evaluations':>33}")
    print(f"{'fitness':12} {len(set(fitness)):>16} {spearman([-f for f in fitness], truth):>33.3f}")
    print(f"{'evaluations':12} {len(set(evaluations)):>16} {spearman(evaluations, truth):>33.3f}")


def part_two(args) -> None:
    print(f"\npart 2: TPE, {args.trials} trials per study; best config on {args.holdout} "
          f"fresh seeds (published: {PUBLISHED.get(args.task, '-')})")
    print(f"{'mode':5} {'metric':12} {'wall s':>7} {'best value':>11} {'held-out solved':>16} "
          f"{'median evals':>13} {'mean evals':>11}")
    for mode in args.modes:
        for metric in ("fitness", "evaluations"):
            spec = spec_for(args, mode, metric)
            study = optuna.create_study(direction=spec.direction,
                                        sampler=optuna.samplers.TPESampler(seed=0))
            started = time.perf_counter()
            study.optimize(lambda t: evolve(SPACES[mode](t, spec), spec,
                                            list(range(args.seeds))).score(metric),
                           n_trials=args.trials)
            wall = time.perf_counter() - started
            best = optuna.trial.FixedTrial(study.best_trial.params)
            _, solved = held_out(SPACES[mode](best, spec), spec, args)
            median = f"{statistics.median(solved):,.0f}" if solved else "-"
            mean = f"{statistics.fmean(solved):,.0f}" if solved else "-"
            print(f"{mode:5} {metric:12} {wall:>7.1f} {study.best_value:>11,.1f} "
                  f"{len(solved):>8}/{args.holdout:<7} {median:>13} {mean:>11}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="double-pole")
    parser.add_argument("--configs", type=int, default=24)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--holdout", type=int, default=10)
    parser.add_argument("--population", type=int, default=50)
    parser.add_argument("--generations", type=int, default=40)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--modes", nargs="+", default=["pure", "neat"])
    parser.add_argument("--parts", nargs="+", type=int, default=[1, 2])
    args = parse_args(parser, smoke={"configs": 3, "seeds": 1, "holdout": 2, "population": 10,
                                     "generations": 2, "trials": 2})
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if 1 in args.parts:
        part_one(args)
    if 2 in args.parts:
        part_two(args)


if __name__ == "__main__":
    main()
