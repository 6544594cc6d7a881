"""NEAT per generation: nas (one tensor batch) against neat-python 2.x, in one run.

Both evolve population 500 on CartPole-v1 with the same episode (up to 500 steps, one
episode per genome, random start per genome) for the same number of generations from
scratch. neat-python evaluates each genome with its own network object step by step in
Python (its documented way), on gymnasium's CartPole-v1; nas runs every genome's episode
in its compiled CPU kernel (sparse genes, the default engine), and, for comparison, on the
torch path (padded tensors, all episodes stepped together). Evaluation and reproduction are timed
separately (neat-python through a reporter's start/post-evaluate/end hooks); nas's
compiled code is loaded (or compiled, once per machine) before the timing starts.
Run: python bench/neat_vs_neat_python.py [--population 500 --generations 5 --threads 2]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

from _support import ROOT, parse_args  # noqa: F401
from nas.evolution.evaluators import evaluator_for
from nas.evolution.modes import NeatMode
from nas.evolution.config import EvolutionConfig
from nas.evolution.tasks import get_task

NEAT_PYTHON_CONFIG = """
[NEAT]
fitness_criterion     = max
fitness_threshold     = 100000
pop_size              = {pop}
reset_on_extinction   = True
no_fitness_termination = True

[DefaultGenome]
activation_default      = sigmoid
activation_mutate_rate  = 0.0
activation_options      = sigmoid
aggregation_default     = sum
aggregation_mutate_rate = 0.0
aggregation_options     = sum
bias_init_mean          = 0.0
bias_init_stdev         = 1.0
bias_max_value          = 30.0
bias_min_value          = -30.0
bias_mutate_power       = 0.5
bias_mutate_rate        = 0.7
bias_replace_rate       = 0.1
compatibility_disjoint_coefficient = 1.0
compatibility_weight_coefficient   = 0.4
conn_add_prob           = 0.05
conn_delete_prob        = 0.0
enabled_default         = True
enabled_mutate_rate     = 0.01
feed_forward            = True
initial_connection      = full_direct
node_add_prob           = 0.03
node_delete_prob        = 0.0
num_hidden              = 0
num_inputs              = 4
num_outputs             = 1
response_init_mean      = 1.0
response_init_stdev     = 0.0
response_max_value      = 30.0
response_min_value      = -30.0
response_mutate_power   = 0.0
response_mutate_rate    = 0.0
response_replace_rate   = 0.0
weight_init_mean        = 0.0
weight_init_stdev       = 1.0
weight_max_value        = 30
weight_min_value        = -30
weight_mutate_power     = 0.5
weight_mutate_rate      = 0.8
weight_replace_rate     = 0.1

[DefaultSpeciesSet]
compatibility_threshold = 3.0

[DefaultStagnation]
species_fitness_func = max
max_stagnation       = 15
species_elitism      = 1

[DefaultReproduction]
elitism            = 1
survival_threshold = 0.2
"""


def nas_neat(population: int, generations: int, engine: str) -> tuple[list[float], list[float], float]:
    task = get_task("cartpole")
    mode = NeatMode(EvolutionConfig.from_dict({"mode": "neat", "population": population}), task)
    evaluator = evaluator_for(task, mode, "cpu", engine)
    # compile (or load from the cache) the kernel and the compiled reproduction outside the timing
    warm_state = mode.algorithm.init(torch.Generator().manual_seed(1))
    if engine == "kernel":
        evaluator.evaluate([mode.algorithm.ask(warm_state)], task.initial_states(torch.Generator(), population))
    mode.algorithm.tell(warm_state, torch.arange(population, dtype=torch.float32), torch.Generator())
    gen = torch.Generator().manual_seed(0)
    state = mode.algorithm.init(gen)
    evals, repro, steps = [], [], 0.0
    for _ in range(generations):
        t0 = time.perf_counter()
        genomes = mode.algorithm.ask(state)
        starts = task.initial_states(gen, population)
        fitness = evaluator.evaluate([genomes], starts).clone()  # as run_evolution evaluates
        t1 = time.perf_counter()
        state = mode.algorithm.tell(state, fitness, gen)
        evals.append(t1 - t0)
        repro.append(time.perf_counter() - t1)
        steps += float(fitness.sum())
    return evals, repro, steps


def neat_python(population: int, generations: int) -> tuple[list[float], list[float], float]:
    import gymnasium as gym
    import neat

    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as f:
        f.write(NEAT_PYTHON_CONFIG.format(pop=population))
    try:
        config = neat.Config(neat.DefaultGenome, neat.DefaultReproduction, neat.DefaultSpeciesSet,
                             neat.DefaultStagnation, f.name)
    finally:
        os.unlink(f.name)
    env = gym.make("CartPole-v1")
    total = {"steps": 0.0}

    def evaluate(genomes, cfg):
        for gid, genome in genomes:
            net = neat.nn.FeedForwardNetwork.create(genome, cfg)
            obs, _ = env.reset(seed=gid)
            steps, done = 0, False
            while not done:
                action = 1 if net.activate(obs)[0] > 0.5 else 0
                obs, reward, terminated, truncated, _ = env.step(action)
                steps += 1
                done = terminated or truncated
            genome.fitness = float(steps)
            total["steps"] += steps

    class Timer(neat.reporting.BaseReporter):
        def __init__(self):
            self.evals, self.repro, self.t = [], [], {}

        def start_generation(self, generation):
            self.t["start"] = time.perf_counter()

        def post_evaluate(self, config, population, species, best_genome):
            self.t["evaluated"] = time.perf_counter()
            self.evals.append(self.t["evaluated"] - self.t["start"])

        def end_generation(self, config, population, species_set):
            self.repro.append(time.perf_counter() - self.t["evaluated"])

    pop = neat.Population(config)
    timer = Timer()
    pop.add_reporter(timer)
    pop.run(evaluate, generations)
    return timer.evals, timer.repro, total["steps"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=500)
    parser.add_argument("--generations", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parse_args(parser, smoke={"population": 20, "generations": 2})
    torch.set_num_threads(args.threads)
    rows = {"nas NEAT": nas_neat(args.population, args.generations, "kernel"),
            "nas (torch)": nas_neat(args.population, args.generations, "torch"),
            "neat-python": neat_python(args.population, args.generations)}
    print(f"NEAT on CartPole-v1: population {args.population}, {args.generations} generations, "
          f"{args.threads} threads (nas NEAT: the compiled kernel, the CPU default)")
    print(f"{'':12} {'eval s/gen':>11} {'repro s/gen':>12} {'total s/gen':>12} {'env-steps/s':>12}")
    per_gen = {}
    for name, (evals, repro, steps) in rows.items():
        e, r = statistics.mean(evals), statistics.mean(repro)
        per_gen[name] = e + r
        print(f"{name:12} {e:>11.3f} {r:>12.3f} {e + r:>12.3f} {steps / sum(evals):>12,.0f}")
    print(f"neat-python / nas per generation = {per_gen['neat-python'] / per_gen['nas NEAT']:.1f}x "
          f"(torch path: {per_gen['neat-python'] / per_gen['nas (torch)']:.1f}x)")
    repro = {name: statistics.mean(r) for name, (_, r, _) in rows.items()}
    print(f"neat-python / nas reproduction = {repro['neat-python'] / repro['nas NEAT']:.1f}x "
          f"(torch path: {repro['neat-python'] / repro['nas (torch)']:.1f}x)")


if __name__ == "__main__":
    main()
