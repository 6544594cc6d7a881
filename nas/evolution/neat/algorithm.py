"""NEAT as an ask/tell algorithm over one seed's population.

`tell` reads as the paper's generation, whatever the variants: update each species'
record and drop (or, with Stanley's `stagnation_penalty`, penalise) the stagnant ones;
plan the offspring (per species in proportion to its explicit fitness share, the species
holding the best genome at least one; or, with `population_stagnation`, Stanley's delta
coding from the two best champions); breed each species (elite copy, parents from the
top `survival_threshold`, crossover or copy, mutation); speciate the children against
the previous species' representatives; move the threshold. Each step that a variant
changes is an operator from `operators(params)` (nas.evolution.neat.operators), whose
classes document the rules, so a variant is a class there and never a branch here.
Where the run's operators have a compiled form (`Breeding.compiled()`), breeding and
speciation run compiled over the packed population (`batched`, `_compiled`): the same
draws and arithmetic, so the same generation bit for bit, in a fraction of the time; the
children are then rows of one `packed.GenePool`, built into gene objects only if read.

All randomness comes from a numpy Generator seeded from the caller's torch.Generator
(one draw per call), so the same seed gives the same run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from nas.errors import NasError
from nas.evolution.algorithms.base import Algorithm
from nas.evolution.neat import batched
from nas.evolution.neat.genes import Genome, InnovationTracker, minimal_genome
from nas.evolution.neat.operators import operators
from nas.evolution.neat.operators.reproduction import ranked_all
from nas.evolution.neat.operators.speciation import Species, speciate
from nas.evolution.neat.params import NEATParams

__all__ = ["NEAT", "NEATState", "Species", "adapt_threshold", "numpy_rng", "speciate"]


@dataclass(frozen=True)
class NEATState:
    population: list[Genome]
    species: list[Species]
    threshold: float  # current compatibility threshold (adapts with target_species)
    next_innovation: int
    next_node: int
    next_species: int = 0
    generation: int = 0
    best_fitness: float = -math.inf  # the population's record (for population_stagnation)
    last_improved: int = 0  # generation of that record


def numpy_rng(generator: torch.Generator) -> np.random.Generator:
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator))
    return np.random.default_rng(seed)


def adapt_threshold(threshold: float, n_species: int, params: NEATParams) -> float:
    return operators(params).threshold.adapt(threshold, n_species)


class NEAT(Algorithm[NEATState, list[Genome]]):
    """The `Algorithm` protocol with graph genomes: `ask` returns `list[Genome]` of `size`."""

    def __init__(self, n_inputs: int, n_outputs: int, population: int,
                 params: NEATParams | None = None):
        if n_inputs < 1 or n_outputs < 1:
            raise NasError("NEAT needs at least one input and one output")
        if population < 2:
            raise NasError("NEAT needs a population of at least 2")
        self.n_inputs, self.n_outputs, self.size = n_inputs, n_outputs, population
        self.params = params or NEATParams()
        self.ops = operators(self.params)
        # the compiled breeding's options (None: these operators breed in Python)
        self._compiled = self.ops.reproduction.breeding.compiled()

    def init(self, generator: torch.Generator) -> NEATState:
        rng, p, ops = numpy_rng(generator), self.params, self.ops
        n_in, n_out = self.n_inputs, self.n_outputs
        pop = [minimal_genome(n_in, n_out, ops.noise.fresh(rng, n_in * n_out))
               for _ in range(self.size)]
        species, next_species = speciate(pop, [], p.compatibility_threshold, 0, 0, p)
        return NEATState(pop, species, ops.threshold.adapt(p.compatibility_threshold, len(species)),
                         next_innovation=n_in * n_out, next_node=n_in + n_out,
                         next_species=next_species)

    def ask(self, state: NEATState) -> list[Genome]:
        return state.population

    def tell(self, state: NEATState, fitness: torch.Tensor,
             generator: torch.Generator) -> NEATState:
        fit = self._fitness(fitness)
        rng, ops, gen, pop = numpy_rng(generator), self.ops, state.generation, state.population
        record, last_improved = state.best_fitness, state.last_improved
        if fit.max() > record:
            record, last_improved = float(fit.max()), gen
        species = ops.reproduction.survivors(state.species, fit, gen)
        plan = ops.reproduction.plan(species, fit, gen, last_improved, self.size)
        tracker = InnovationTracker(state.next_innovation, state.next_node)
        pools = ranked_all(species, fit)
        if self._compiled is not None and plan.offspring == ops.reproduction.breeding.offspring:
            children = batched.breed(self._compiled, pop, fit, pools, plan.counts, rng, tracker)
        else:
            children = []
            for k, n in enumerate(plan.counts):
                children += plan.offspring(k, pools, n, pop, fit, rng, tracker)
        reps = ops.representatives.pick(species, plan.counts, pools, pop, rng)
        new_species, next_species = batched.speciate(children, reps, state.threshold,
                                                     state.next_species, gen + 1, self.params)
        return NEATState(children, new_species,
                         ops.threshold.adapt(state.threshold, len(new_species)),
                         tracker.next_innovation, tracker.next_node, next_species, gen + 1,
                         record, plan.last_improved)

    def _fitness(self, fitness: torch.Tensor) -> np.ndarray:
        fit = fitness.detach().cpu().to(torch.float64).numpy().reshape(-1)
        if fit.shape[0] != self.size:
            raise NasError(f"NEAT.tell needs {self.size} fitness values, got {fit.shape[0]}")
        return np.where(np.isnan(fit), -np.inf, fit)

    def _survivors(self, species: list[Species], fit: np.ndarray, gen: int) -> list[Species]:
        return self.ops.reproduction.survivors(species, fit, gen)

    def _shares(self, species: list[Species], fit: np.ndarray, gen: int) -> np.ndarray:
        return self.ops.reproduction.shares(species, fit, gen)

    def stats(self, state: NEATState) -> dict:
        pop = state.population
        return {"species": len(state.species),
                "nodes": sum(g.n_nodes for g in pop) / len(pop),
                "connections": batched.enabled_count(pop) / len(pop)}
