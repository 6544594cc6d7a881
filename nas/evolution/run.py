"""`run_evolution`: every seed of one trial, evaluated as one batch per time step.

Each seed owns its generator and its algorithm state, so its result is the same whether
it runs alone or beside other seeds. Seeds that solve the task or stagnate for
`stagnation_limit` generations leave the batch and stop costing compute.

At every generation boundary the whole run can be captured (`so_far.checkpoint()`, in
`on_generation`) and later resumed from those bytes (`resume=`): the resumed run's result
is the uninterrupted run's, bit for bit (nas.evolution.checkpoint says what is kept).

Every evaluation goes through the run's `Evaluator` (nas.evolution.evaluators), chosen
once: the loop is the same whichever engine stands behind it.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from nas.evolution import checkpoint, metrics
from nas.evolution.config import EvolutionConfig
from nas.evolution.evaluators import Evaluator, evaluator_for
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
    # the first genome that solved (passed the task's champion test, where it has one): on
    # the tasks without velocities often not the fittest, whose test may have failed
    solved_genome: dict[str, Any] | None = None
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

    def checkpoint(self) -> bytes:
        """The whole run's state right after this generation, as bytes for
        `run_evolution(..., resume=)`. Only the results passed to `on_generation` have it,
        and only while the run has not moved on to the next generation."""
        capture = self.__dict__.get("_capture")
        if capture is None:
            raise checkpoint.CheckpointError("only the results given to on_generation can "
                                             "make a checkpoint")
        return capture()

    def __getstate__(self):  # the capture closure is no part of the result
        return {k: v for k, v in self.__dict__.items() if k != "_capture"}

    def score(self, metric: str) -> float:
        """The trial's value under `metric` (nas.evolution.metrics)."""
        return metrics.score(metric, self.seeds, self.budget, self.target, self.generations)

    @property
    def success_rate(self) -> float:
        return metrics.success_rate(self.seeds)


class _SeedRun:
    def __init__(self, seed: int, mode, saved: dict | None = None):
        """A seed's run from its start, or from `saved` (one seed of a checkpoint)."""
        self.generator = torch.Generator().manual_seed(seed)
        self.mode, self.algorithm = mode, mode.algorithm
        if saved is None:
            self.state = self.algorithm.init(self.generator)
            self.result = SeedResult(seed=seed)
            self.champion_tested = None  # the last genome given the champion test
            self.champion_checked: set = set()  # the mode's memory of whom it tested (NEAT: species)
            return
        self.generator.set_state(saved["generator"])
        self.state, self.result = saved["state"], SeedResult(**saved["result"])
        self.champion_tested, self.champion_checked = saved["champion_tested"], saved["champion_checked"]
        if self.result.seed != seed or len(self.algorithm.ask(self.state)) != self.algorithm.size:
            raise checkpoint.CheckpointError(f"checkpoint of seed {self.result.seed} does not "
                                             f"fit seed {seed}'s run")

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
            first = int(solved.nonzero()[0])
            res.solved_generation = generation
            res.solved_evaluations = res.evaluations + first + 1
            res.solved_genome = self.mode.genome(genomes, first)
        res.evaluations += len(fitness)
        solved_stop = stop_when_solved and res.solved_generation is not None
        res.stopped = solved_stop or bool(stagnation_limit and res.stagnant_for >= stagnation_limit)

    def tell(self, fitness) -> None:
        self.state = self.algorithm.tell(self.state, fitness, self.generator)


def run_evolution(config: EvolutionConfig | dict, generations: int, seeds: int | list[int],
                  stagnation_limit: int | None = None, device: str = "cpu",
                  on_generation: OnGeneration | None = None,
                  stop_when_solved: bool = True, engine: str | None = None,
                  resume: bytes | None = None) -> EvolutionResult:
    """Evolve every seed for up to `generations`; `on_generation(g, so_far)` sees the
    results after each generation and may raise to stop (the exception propagates as is);
    `so_far.checkpoint()` there captures the run.

    `stop_when_solved=False` keeps solved seeds evolving (full curves, fixed cost per trial).
    `engine` ("kernel" or "torch"; default `$NAS_ENGINE`, else kernel): on CPU, tasks with
    a compiled episode kernel run each generation as one kernel call (nas.evolution.kernels),
    the rest, and every task on CUDA, through the batched torch path (`evaluator_for`).
    `resume`: a checkpoint of this very run (same config, seeds, generations, limits; any
    engine): it continues after the checkpoint's generation, and `on_generation` sees only
    the generations after it. A checkpoint that does not fit raises CheckpointError.
    """
    cfg = config if isinstance(config, EvolutionConfig) else EvolutionConfig.from_dict(config)
    task = get_task(cfg.task)
    mode = MODES[cfg.mode](cfg, task)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    key = checkpoint.identity(cfg, seed_list, generations, stagnation_limit, stop_when_solved)
    first, runs = _start(seed_list, mode, key, resume)
    evaluator = evaluator_for(task, mode, device, engine)
    budget = cfg.population * generations
    done = [first - 1]  # the last generation completed: what a checkpoint captures
    for generation in range(first, generations):
        active = [r for r in runs if r.result.active]
        if not active:
            break
        done[0] = None  # mid-generation: no checkpoint
        started = time.perf_counter()
        _evaluate_generation(task, mode, evaluator, active, generation, stagnation_limit,
                             stop_when_solved)
        elapsed = (time.perf_counter() - started) / len(active)
        for run in active:
            run.result.seconds += elapsed
        done[0] = generation
        if on_generation is not None:
            so_far = _result(runs, budget, task, generations)
            so_far._capture = functools.partial(_capture, key, generation, runs, done)
            on_generation(generation, so_far)
    return _result(runs, budget, task, generations)


def _start(seed_list: list[int], mode, key: bytes,
           resume: bytes | None) -> tuple[int, list[_SeedRun]]:
    """(the first generation to run, every seed's run): fresh, or from the checkpoint."""
    if resume is None:
        return 0, [_SeedRun(s, mode) for s in seed_list]
    generation, saved = checkpoint.restore(resume, key, len(seed_list))
    try:
        runs = [_SeedRun(s, mode, data) for s, data in zip(seed_list, saved)]
    except (TypeError, ValueError, RuntimeError) as exc:  # parts that do not fit this run
        raise checkpoint.CheckpointError(f"checkpoint does not fit the run: {exc}") from None
    return generation + 1, runs


def _capture(key: bytes, generation: int, runs: list[_SeedRun], done: list) -> bytes:
    if done[0] != generation:
        raise checkpoint.CheckpointError(f"the run has moved on from generation {generation}")
    return checkpoint.capture(key, generation, runs)


def _result(runs: list[_SeedRun], budget: int, task, generations: int) -> EvolutionResult:
    return EvolutionResult([r.result for r in runs], budget, task.target_fitness, generations)


def _evaluate_generation(task, mode, evaluator: Evaluator, active, generation, stagnation_limit,
                         stop_when_solved) -> None:
    pop = active[0].algorithm.size
    genomes = [r.algorithm.ask(r.state) for r in active]
    starts = torch.cat([task.initial_states(r.generator, pop) for r in active])
    fitness = evaluator.evaluate(genomes, starts)
    fitness = fitness.cpu().clone().view(len(active), pop)  # a plain tensor again
    solved = task.solved(fitness)
    if task.champion_test:
        solved = torch.stack([_champion_test(mode, evaluator, run, genome, fit, sol)
                              for run, genome, fit, sol in zip(active, genomes, fitness, solved)])
    for run, genome, fit, sol in zip(active, genomes, fitness, solved):
        run.record(generation, genome, fit, sol, stagnation_limit, stop_when_solved)
        if run.result.active:
            run.tell(fit)


def _champion_test(mode, evaluator: Evaluator, run, genome, fitness,
                   candidates) -> torch.Tensor:
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
    verdict[best] = evaluator.champion_solved(genome, best)
    return verdict
