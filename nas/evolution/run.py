"""`run_evolution`: every seed of one trial, evaluated as one batch per time step.

Each seed owns its generator and its algorithm state, so its result is the same whether
it runs alone or beside other seeds. Seeds that solve the task or stagnate for
`stagnation_limit` generations leave the batch and stop costing compute.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from nas.evolution import metrics
from nas.evolution.config import EvolutionConfig
from nas.evolution.kernels import engine_for
from nas.evolution.modes import MODES
from nas.evolution.tasks import get_task

# Called after every generation with the results so far (`.score(metric)` is the trial's
# value so far); it may raise to stop the run, and keeps whatever of the results it needs.
OnGeneration = Callable[[int, "EvolutionResult"], None]


@dataclass
class SeedResult:
    seed: int
    best_fitness: float = float("-inf")
    generations: int = 0
    evaluations: int = 0
    solved_generation: int | None = None
    solved_evaluations: int | None = None
    stagnant_for: int = 0
    best_genome: dict[str, Any] | None = None
    curve_best: list[float] = field(default_factory=list)
    curve_mean: list[float] = field(default_factory=list)
    curve_extra: list[dict[str, float]] = field(default_factory=list)  # NEAT: species, sizes
    seconds: float = 0.0
    stopped: bool = False

    @property
    def active(self) -> bool:
        return not self.stopped


@dataclass
class EvolutionResult:
    """Every seed's result, with what the metrics need to score them: each seed's whole
    evaluation budget, the task's target fitness and the generations asked for."""
    seeds: list[SeedResult]
    budget: int = 0  # evaluations per seed: population x generations
    target: float | None = None
    generations: int = 0

    def score(self, metric: str) -> float:
        """The trial's value under `metric` (nas.evolution.metrics)."""
        return metrics.score(metric, self.seeds, self.budget, self.target, self.generations)

    @property
    def success_rate(self) -> float:
        return metrics.success_rate(self.seeds)


class _SeedRun:
    def __init__(self, seed: int, mode):
        self.generator = torch.Generator().manual_seed(seed)
        self.mode, self.algorithm = mode, mode.algorithm
        self.state = self.algorithm.init(self.generator)
        self.result = SeedResult(seed=seed)
        self.champion_tested = None  # the last genome given the champion test
        self.champion_checked: set = set()  # the mode's memory of whom it tested (NEAT: species)

    def record(self, generation, genomes, fitness, solved, stagnation_limit, stop_when_solved):
        res, best_i = self.result, int(torch.argmax(torch.nan_to_num(fitness, nan=-torch.inf)))
        best = float(fitness[best_i])
        res.curve_best.append(best)
        res.curve_mean.append(float(fitness.mean()))
        res.curve_extra.append(self.mode.stats(self.state) or {})
        res.generations = generation + 1
        if best > res.best_fitness:
            res.best_fitness, res.stagnant_for = best, 0
            res.best_genome = self.mode.genome(genomes, best_i)
        else:
            res.stagnant_for += 1
        if bool(solved.any()) and res.solved_generation is None:
            res.solved_generation = generation
            res.solved_evaluations = res.evaluations + int(solved.nonzero()[0]) + 1
        res.evaluations += len(fitness)
        solved_stop = stop_when_solved and res.solved_generation is not None
        res.stopped = solved_stop or bool(stagnation_limit and res.stagnant_for >= stagnation_limit)

    def tell(self, fitness) -> None:
        self.state = self.algorithm.tell(self.state, fitness, self.generator)


def run_evolution(config: EvolutionConfig | dict, generations: int, seeds: int | list[int],
                  stagnation_limit: int | None = None, device: str = "cpu",
                  on_generation: OnGeneration | None = None,
                  stop_when_solved: bool = True, engine: str | None = None) -> EvolutionResult:
    """Evolve every seed for up to `generations`; `on_generation(g, so_far)` sees the
    results after each generation and may raise to stop (the exception propagates as is).

    `stop_when_solved=False` keeps solved seeds evolving (full curves, fixed cost per trial).
    `engine` ("kernel" or "torch"; default `$NAS_ENGINE`, else kernel): on CPU, tasks with
    a compiled episode kernel run each generation as one kernel call (nas.evolution.kernels),
    the rest, and every task on CUDA, through the batched torch path.
    """
    cfg = config if isinstance(config, EvolutionConfig) else EvolutionConfig.from_dict(config)
    task = get_task(cfg.task)
    mode = MODES[cfg.mode](cfg, task)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    runs = [_SeedRun(s, mode) for s in seed_list]
    kernel = engine_for(task, mode, device, engine)  # None: the torch path
    budget = cfg.population * generations
    for generation in range(generations):
        active = [r for r in runs if r.result.active]
        if not active:
            break
        started = time.perf_counter()
        _evaluate_generation(task, mode, active, generation, stagnation_limit, device,
                             stop_when_solved, kernel)
        elapsed = (time.perf_counter() - started) / len(active)
        for run in active:
            run.result.seconds += elapsed
        if on_generation is not None:
            on_generation(generation, _result(runs, budget, task, generations))
    return _result(runs, budget, task, generations)


def _result(runs: list[_SeedRun], budget: int, task, generations: int) -> EvolutionResult:
    return EvolutionResult([r.result for r in runs], budget, task.target_fitness, generations)


def _evaluate_generation(task, mode, active, generation, stagnation_limit, device,
                         stop_when_solved, kernel=None) -> None:
    pop = active[0].algorithm.size
    genomes = [r.algorithm.ask(r.state) for r in active]
    starts = torch.cat([task.initial_states(r.generator, pop) for r in active])
    if kernel is not None:
        fitness = kernel.evaluate(genomes, starts)
    else:
        policy = mode.policy(genomes, device)
        with torch.inference_mode():  # no autograd bookkeeping per op: ~9% per episode step
            fitness = task.evaluate(policy, starts.to(device))
    fitness = fitness.cpu().clone().view(len(active), pop)  # a plain tensor again
    solved = task.solved(fitness)
    if task.champion_test:
        solved = torch.stack([_champion_test(task, mode, run, genome, fit, sol, device, kernel)
                              for run, genome, fit, sol in zip(active, genomes, fitness, solved)])
    for run, genome, fit, sol in zip(active, genomes, fitness, solved):
        run.record(generation, genome, fit, sol, stagnation_limit, stop_when_solved)
        if run.result.active:
            run.tell(fit)


def _champion_test(task, mode, run, genome, fitness, candidates, device,
                   kernel=None) -> torch.Tensor:
    """For tasks whose fitness cannot prove solving (double-pole-nv): test one champion per
    generation as the NEAT and CoSyNE papers do, chosen by the mode (`mode.champion`),
    unless it is the very genome tested last (an elite kept unchanged would fail the same
    100,000-step test again). Solved only at that index, if it passes."""
    verdict = torch.zeros_like(candidates)
    best = mode.champion(run.state, fitness, candidates, run.champion_checked)
    if best is None:
        return verdict
    data = mode.genome(genome, best)
    if data == run.champion_tested:
        return verdict
    run.champion_tested = data
    if kernel is not None:
        verdict[best] = kernel.champion_solved(genome, best)
        return verdict
    with torch.inference_mode():
        verdict[best] = bool(task.champion_solved(lambda n: mode.copies(genome, best, n, device)))
    return verdict
