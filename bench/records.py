"""Beyond the published double-pole records: a nas search per task and method, then the
best configuration it found rerun on held-out seeds, beside the best published figures.

Protocol. For each task, a real nas study per method (TPE, nas's search space: `pure`
holds GA, CoSyNE and CMA-ES; `neat`) runs on the search seeds (--base-seed 1000..,
--search-seeds of them) with a per-seed budget of --search-evaluations. The best trial's
params are turned back into its configuration through the same search space
(`nas.worker.space.SPACES` on an `optuna.trial.FixedTrial`), which then runs on seeds
0..--held-out-1, none of which the search saw, each with up to --held-out-evaluations.
Printed per row: seeds solved, mean and median evaluations to solve (one evaluation = one
episode of one genome, counted up to and including the first that solves, as the papers
count), and where the task has the 625-start test (Stanley's setup without velocities)
the mean generalization score of the genome that solved each seed.

Published (mean evaluations): with velocities CMA-ES 683 (tachsin/genoxide, 2026, bias-free
net, 100/100), CMA-ES 895 (Igel 2003), CoSyNE 954, NEAT 3,600; without velocities CMA-ES
3,043 (genoxide, Elman, 100/100, generalization 247/625), CoSyNE 3,416, CMA-ES 6,061,
NEAT 6,929 (33,184 in the NEAT paper). Where our protocol differs from theirs: docs/records.md.

Run: python bench/records.py [--tasks double-pole double-pole-nv double-pole-nv-gomez]
     [--methods pure neat] [--trials 40] [--held-out 100] [--jobs 2]
`--config JSON` skips the search and holds out that configuration (a row "given"): a
setting chosen elsewhere, measured on the same seeds through the same path.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time

from _support import ROOT, nas_env, parse_args, throwaway_postgres

PUBLISHED = {
    "double-pole": "CMA-ES 683 (genoxide), CMA-ES 895 (Igel), CoSyNE 954, NEAT 3,600",
    "double-pole-nv": "CMA-ES 3,043 (genoxide, 247/625), CoSyNE 3,416, CMA-ES 6,061, NEAT 6,929",
    "double-pole-nv-gomez": "CMA-ES 3,043 (genoxide), CoSyNE 3,416, CMA-ES 6,061, NEAT 6,929",
}
RECORD = {"double-pole": 683, "double-pole-nv": 3043, "double-pole-nv-gomez": 3043}
SEARCH_BASE_SEED = 1000  # held-out seeds are 0..held_out-1


def search(url: str, task: str, method: str, args) -> tuple[dict, dict, float]:
    """Run the study; return (best trial's params, the study's spec fields, seconds)."""
    name = f"rec-{task}-{method}"
    population = args.pure_population if method == "pure" else args.neat_population
    generations = max(1, args.search_evaluations // population)
    extra = (args.pure_args if method == "pure" else args.neat_args).split()
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "nas", "search", name, "-m", method, "-t", task,
         "-n", str(args.trials), "-g", str(generations), "-s", str(args.search_seeds),
         "-p", str(population), "--base-seed", str(SEARCH_BASE_SEED), "-j", str(args.jobs),
         "--threads", "1", *extra],
        env=nas_env(url), cwd=ROOT, capture_output=True, text=True, timeout=args.search_timeout)
    if out.returncode != 0:
        raise SystemExit(f"records: nas search {name} failed:\n{out.stderr[-2000:]}")
    import optuna

    from nas.store import Store

    row = Store(url).require_study(name)
    best = optuna.load_study(study_name=name, storage=Store(url).optuna_storage()).best_trial
    return best.params, row.spec, time.perf_counter() - started


def config_of(params: dict, spec) -> dict:
    """The run_evolution configuration a trial with these params ran (the worker's own
    search space, replayed on a FixedTrial)."""
    import optuna

    from nas.worker.space import SPACES

    return SPACES[spec.mode](optuna.trial.FixedTrial(params), spec)


def _held_out(job: tuple[dict, int, list[int]]) -> list[tuple[int | None, int | None]]:
    """(evaluations to solve or None, generalization score or None) per seed."""
    import torch

    from nas.evolution import run_evolution

    config, generations, seeds = job
    torch.set_num_threads(1)
    result = run_evolution(config, generations, seeds)
    return [(s.solved_evaluations, generalization(config["task"], s.solved_genome)
             if s.solved_evaluations is not None else None) for s in result.seeds]


def generalization(task_name: str, genome: dict | None) -> int | None:
    """Starts of the 625 (of 1,000 steps each) a genome balances, for a task with that
    test; None otherwise. (The kernel evaluator's episodes: the test's own arithmetic.)"""
    from nas.evolution.evaluators import kernel_evaluator
    from nas.evolution.modes import stored_mode
    from nas.evolution.tasks import get_task
    from nas.evolution.tasks.double_pole import generalization_starts

    task = get_task(task_name)
    if not getattr(task, "generalization_needed", 0) or genome is None:
        return None
    mode, genomes = stored_mode(genome)
    steps = task.generalization_steps
    kernel = kernel_evaluator(task, mode)
    if kernel is None:
        return task.generalization_score(lambda n: mode.copies(genomes, 0, n, "cpu"))
    return int((kernel.survival(genomes, 0, generalization_starts(task.dtype), steps) >= steps).sum())


def held_out(config: dict, generations: int, seeds: int, jobs: int) -> list[tuple]:
    from paper import per_seed

    return per_seed(_held_out, config, generations, seeds, jobs)


def row(task: str, method: str, config: dict, outcomes: list[tuple], seconds: float) -> str:
    evals = [e for e, _ in outcomes if e is not None]
    general = [g for _, g in outcomes if g is not None]
    mean = statistics.mean(evals) if evals else None
    verdict = "-" if mean is None else (
        f"beats {RECORD[task]:,}" if mean < RECORD[task] and len(evals) == len(outcomes)
        else f"{mean / RECORD[task]:.2f}x the record")
    return (f"{task:20} {method:6} {len(evals):>3}/{len(outcomes):<3} "
            f"{'-' if mean is None else f'{mean:,.0f}':>8} "
            f"{f'{statistics.median(evals):,.0f}' if evals else '-':>8} "
            f"{f'{statistics.mean(general):.0f}/625' if general else '-':>9} {seconds:>7.0f}  "
            f"{verdict}")


def describe(config: dict) -> str:
    keep = {k: v for k, v in config.items() if k not in ("mode", "task")}
    return json.dumps(keep, sort_keys=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+",
                        default=["double-pole", "double-pole-nv", "double-pole-nv-gomez"])
    parser.add_argument("--methods", nargs="+", default=["pure", "neat"], choices=["pure", "neat"])
    parser.add_argument("--trials", type=int, default=40, help="trials per study")
    parser.add_argument("--search-seeds", type=int, default=3)
    parser.add_argument("--search-evaluations", type=int, default=10_000,
                        help="per seed and trial during the search")
    parser.add_argument("--held-out", type=int, default=100, help="seeds 0..N-1")
    parser.add_argument("--held-out-evaluations", type=int, default=100_000,
                        help="per held-out seed (generations = this / population)")
    parser.add_argument("--pure-population", type=int, default=16,
                        help="-p of the pure study (CMA-ES may pick its own: see nas search --help)")
    parser.add_argument("--neat-population", type=int, default=150)
    parser.add_argument("--pure-args", default="", help="more flags for the pure study")
    parser.add_argument("--neat-args", default="", help="more flags for the neat study")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--search-timeout", type=float, default=6 * 3600)
    parser.add_argument("--config", help="no search: a run_evolution configuration (JSON, "
                        "its task set from --tasks) held out as is, e.g. one found before")
    args = parse_args(parser, smoke={"tasks": ["double-pole"], "methods": ["pure"], "trials": 2, "search_seeds": 1,
                                     "search_evaluations": 200, "held_out": 2,
                                     "held_out_evaluations": 400, "jobs": 1,
                                     "neat_population": 30, "search_timeout": 600})
    if min(args.jobs, args.trials, args.search_seeds, args.held_out) < 1:
        parser.error("--jobs, --trials, --search-seeds and --held-out must be at least 1")
    print(f"records: configuration given, no search" if args.config else
          f"records: {args.trials} trials per study on {args.search_seeds} search seeds "
          f"(from {SEARCH_BASE_SEED}), {args.search_evaluations:,} evaluations per seed; best "
          f"config on {args.held_out} held-out seeds (0..), up to {args.held_out_evaluations:,} each")
    print(f"{'task':20} {'method':6} {'solved':>7} {'mean':>8} {'median':>8} {'general':>9} "
          f"{'seconds':>7}  against the best published")
    with contextlib.nullcontext() if args.config else throwaway_postgres() as url:
        for task in args.tasks:
            for method in ["given"] if args.config else args.methods:
                if args.config:  # no search: this configuration, held out on the task
                    config, searched = {**json.loads(args.config), "task": task}, 0.0
                else:
                    params, spec, searched = search(url, task, method, args)
                    config = config_of(params, spec)
                started = time.perf_counter()
                generations = max(1, args.held_out_evaluations // config["population"])
                outcomes = held_out(config, generations, args.held_out, args.jobs)
                print(row(task, method, config, outcomes, searched + time.perf_counter() - started),
                      flush=True)
                print(f"  config: {describe(config)}")
            print(f"  published: {PUBLISHED[task]}")

if __name__ == "__main__":
    main()
