"""What a trial's value means: how one evolution run (every seed of a trial) is scored.

    evaluations  mean over seeds of evaluations until solved, minimized. A seed that did
                 not solve counts as E(p) = (B + 1) * (2 - p): B is its whole evaluation
                 budget (population x generations of the spec), p = min(1, best fitness /
                 the task's target fitness) how close it came. So every unsolved seed
                 counts more than any solved one (a solved seed used at most B), and
                 among unsolved seeds the closer one counts less.
    fitness      mean over seeds of the best fitness found, maximized.
    auc          mean over seeds of the mean over the spec's generations of the best-so-far
                 fitness divided by the target (clipped to [0, 1]), maximized: rewards early
                 progress; a seed that stopped keeps its last best for the generations left.

The same formulas score a run still in progress (at generation g: the budget and the
generations are still the spec's), so intermediate values reported at the same step are
comparable across trials and the pruners compare like with like.

Pure Python on purpose: the CLI validates `--metric` and picks the study's direction from
here without importing torch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence


@dataclass(frozen=True)
class Metric:
    name: str
    direction: str  # Optuna's "minimize" or "maximize"
    needs_target: bool
    seed_score: Callable[[Any, int, float | None, int], float]
    help: str


def _closeness(best: float, target: float) -> float:
    if not math.isfinite(best) or target <= 0:
        return 0.0
    return min(1.0, max(0.0, best / target))


def _evaluations(seed, budget: int, target: float | None, generations: int) -> float:
    if seed.solved_evaluations is not None:
        return float(seed.solved_evaluations)
    return (budget + 1) * (2.0 - _closeness(seed.best_fitness, target))


def _fitness(seed, budget: int, target: float | None, generations: int) -> float:
    return float(seed.best_fitness)


def _auc(seed, budget: int, target: float | None, generations: int) -> float:
    curve, best, total = seed.curve_best, -math.inf, 0.0
    for g in range(generations):
        if g < len(curve):
            best = max(best, curve[g])
        total += _closeness(best, target)
    return total / generations if generations else 0.0


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("evaluations", "minimize", True, _evaluations,
           "mean evaluations until solved (unsolved seeds ranked after, by how close)"),
    Metric("fitness", "maximize", False, _fitness, "mean best fitness"),
    Metric("auc", "maximize", True, _auc, "mean best-so-far fitness over generations, normalized"),
)}


def score(metric: str, seeds: Sequence[Any], budget: int, target: float | None,
          generations: int) -> float:
    """The trial's value under `metric`: the mean of its seeds' scores."""
    chosen = METRICS[metric]
    if chosen.needs_target and target is None:
        raise ValueError(f"metric {metric!r} needs a task with a target fitness")
    return sum(chosen.seed_score(s, budget, target, generations) for s in seeds) / len(seeds)


def success_rate(seeds: Sequence[Any]) -> float:
    """Solved seeds / seeds."""
    return sum(s.solved_evaluations is not None for s in seeds) / len(seeds)
