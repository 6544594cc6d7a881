"""NEAT (Stanley & Miikkulainen 2002): evolving topologies, evaluated as one batch.

`NEAT` is the ask/tell algorithm (state is plain data, randomness from the caller's
torch.Generator); `operators(params)` picks its rules, one class per published variant
(neat/operators/: mutation, crossover, speciation, reproduction); `compile_population`
turns any list of genomes into one batched `Policy`; `genome_to_dict` /
`genome_from_dict` give JSON-able genomes.
"""
from nas.evolution.neat.algorithm import NEAT, NEATState, Species, speciate
from nas.evolution.neat.genome import (ConnectionGene, Genome, InnovationTracker, crossover,
                                       distance, genome_from_dict, genome_to_dict,
                                       mutate, mutate_add_connection, mutate_add_node,
                                       mutate_weights)
from nas.evolution.neat.network import NEATPolicy, compile_population
from nas.evolution.neat.operators import Operators, operators
from nas.evolution.neat.params import NEATParams

__all__ = ["NEAT", "NEATParams", "NEATState", "Species", "speciate", "ConnectionGene",
           "Genome", "InnovationTracker", "crossover", "distance", "genome_from_dict",
           "genome_to_dict", "mutate", "mutate_add_connection", "mutate_add_node",
           "mutate_weights", "NEATPolicy", "compile_population", "Operators", "operators"]
