"""NEAT genomes with their rules chosen by a `NEATParams`: one function per operation,
for callers that hold params rather than an operator set (tests, notebooks, one-off
edits). Each builds the operators the params select and applies one, so it draws
exactly as a run with those params does. The data types live in `genes`; the rules in
`operators`.
"""
from __future__ import annotations

import numpy as np

from nas.evolution.neat.genes import (ConnectionGene, GeneKey, Genome, InnovationTracker,
                                      creates_cycle, distance, genome_from_dict,
                                      genome_to_dict, key_distance, minimal_genome,
                                      mutate_add_node)
from nas.evolution.neat.operators import operators
from nas.evolution.neat.params import NEATParams

__all__ = ["ConnectionGene", "GeneKey", "Genome", "InnovationTracker", "creates_cycle",
           "crossover", "distance", "genome_from_dict", "genome_to_dict", "initial_genome",
           "key_distance", "mutate", "mutate_add_connection", "mutate_add_node",
           "mutate_weights", "new_weights"]


def new_weights(rng: np.random.Generator, params: NEATParams, n: int) -> np.ndarray:
    return operators(params).noise.fresh(rng, n)


def initial_genome(n_inputs: int, n_outputs: int, rng: np.random.Generator,
                   params: NEATParams) -> Genome:
    return minimal_genome(n_inputs, n_outputs, new_weights(rng, params, n_inputs * n_outputs))


def mutate_add_connection(genome: Genome, tracker: InnovationTracker,
                          rng: np.random.Generator, params: NEATParams) -> bool:
    return operators(params).mutation.add_connection(genome, tracker, rng)


def mutate_weights(genome: Genome, rng: np.random.Generator, params: NEATParams) -> None:
    operators(params).mutation.reweight(genome, rng)


def mutate(genome: Genome, tracker: InnovationTracker, rng: np.random.Generator,
           params: NEATParams) -> None:
    operators(params).mutation(genome, tracker, rng)


def crossover(a: Genome, fitness_a: float, b: Genome, fitness_b: float,
              rng: np.random.Generator, params: NEATParams) -> Genome:
    return operators(params).crossover(a, fitness_a, b, fitness_b, rng)
