"""Pruning across workers: the same trials with the median pruner and without, one command.

Both studies get the identical list of trial params (enqueued, drawn once from a seeded
random sampler) on double-pole-nv (whose damping fitness does not saturate), served by
the same number of worker processes. Printed: wall time, trials pruned, best value, and
the wall time each study needed to first reach the best value both of them reached. The
bench checks that every trial of both studies ran with exactly one of those param sets,
each set once, and fails loudly otherwise.
Run: python bench/pruning.py [--trials 24 --workers 2 --generations 30 --population 60]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import optuna

from _support import ROOT, nas_env, parse_args, throwaway_postgres
from nas.store.optuna_storage import optuna_storage
from nas.spec import StudySpec
from nas.worker.space import suggest_pure


def param_sets(args) -> list[dict]:
    spec = StudySpec(mode="pure", task="double-pole-nv", generations=args.generations,
                     seeds=args.seeds, population=args.population, budget=args.trials)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=args.seed))
    sets = []
    for _ in range(args.trials):
        trial = study.ask()
        suggest_pure(trial, spec)
        sets.append(trial.params)
        study.tell(trial, 0.0)
    return sets


def run(url: str, name: str, pruner: str, sets: list[dict], args) -> dict:
    subprocess.run([sys.executable, "-m", "nas", "study", "create", name, "-m", "pure",
                    "-t", "double-pole-nv", "-n", str(args.trials), "-g", str(args.generations),
                    "-s", str(args.seeds), "-p", str(args.population), "--sampler", "random",
                    "--pruner", pruner], env=nas_env(url), cwd=ROOT, check=True, capture_output=True)
    study = optuna.load_study(study_name=name, storage=optuna_storage(url))
    for params in sets:
        study.enqueue_trial(params)
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "nas", "worker", "--study", name, "--threads", "1"],
                              env=nas_env(url), cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(args.workers)]
    codes = [p.wait() for p in procs]
    if codes != [0] * args.workers:
        raise SystemExit(f"pruning: workers of {name!r} exited {codes}")
    seconds = time.perf_counter() - started
    trials = study.get_trials(deepcopy=False)
    check_identical(name, sets, trials)
    first = min(t.datetime_start for t in trials)
    done = sorted((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.datetime_complete)
    sign = 1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1
    return {"seconds": seconds, "pruned": sum(t.state.name == "PRUNED" for t in trials),
            "best": sign * max(sign * t.value for t in done), "sign": sign,
            "timeline": [((t.datetime_complete - first).total_seconds(), t.value) for t in done]}


def check_identical(name: str, sets: list[dict], trials) -> None:
    """Each enqueued set ran exactly once, as a finished (complete or pruned) trial, and
    nothing was sampled beside it."""
    key = lambda p: json.dumps(p, sort_keys=True)  # noqa: E731
    states = sorted({t.state.name for t in trials} - {"COMPLETE", "PRUNED"})
    got, want = sorted(key(t.params) for t in trials), sorted(map(key, sets))
    if states or got != want:
        raise SystemExit(f"pruning: {name!r} did not run the identical trials "
                         f"(other states {states}; {len(got)} trials vs {len(want)}; "
                         f"unexpected {sorted(set(got) - set(want))[:1]})")


def time_to(timeline, target: float, sign: int = 1) -> float:
    """Seconds until the best value so far reached `target` (sign -1: minimized)."""
    best = float("-inf")
    for seconds, value in timeline:
        best = max(best, sign * value)
        if best >= sign * target:
            return seconds
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--generations", type=int, default=30)
    parser.add_argument("--population", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parse_args(parser, smoke={"trials": 8, "workers": 2, "generations": 8,
                                     "population": 20, "seeds": 1})
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sets = param_sets(args)
    with throwaway_postgres() as url:
        off = run(url, "no-pruning", "none", sets, args)
        on = run(url, "median", "median", sets, args)
    sign = off["sign"]
    target = sign * min(sign * on["best"], sign * off["best"])  # the best both reached
    print(f"pruning: {args.trials} identical trials, pure/double-pole-nv, population "
          f"{args.population} x {args.generations} generations x {args.seeds} seeds, "
          f"{args.workers} workers")
    print(f"{'pruner':8} {'wall s':>7} {'pruned':>6} {'best value':>11} {'s to reach ' + format(target, '.4f'):>20}")
    for name, r in (("none", off), ("median", on)):
        print(f"{name:8} {r['seconds']:7.1f} {r['pruned']:>6} {r['best']:>11.4f} "
              f"{time_to(r['timeline'], target, sign):>20.1f}")
    print(f"speed-up of the whole study = {off['seconds'] / on['seconds']:.2f}x; to the common best = "
          f"{time_to(off['timeline'], target, sign) / time_to(on['timeline'], target, sign):.2f}x")


if __name__ == "__main__":
    main()
