"""NEAT's variants as operators, as TensorNEAT's genome/operations: each rule that
Stanley's code or nas changes from the paper is a class beside the paper's, and
`operators(params)` picks one of each from `NEATParams` (which validated the choices).
The generation loop calls them without asking which they are, so a new variant is a new
class and one line here, not a branch in the loop.
"""
from __future__ import annotations

from dataclasses import dataclass

from nas.evolution.neat.operators.crossover import (AveragingCrossover, Crossover, MateOnly,
                                                    MateOnlyChance)
from nas.evolution.neat.operators.mutation import (AddConnection, AnyOpenLink,
                                                   ExclusiveMutation, FeedForwardLinks,
                                                   GaussianNoise, IndependentMutation,
                                                   LinkChoice, Mutation, PerConnection,
                                                   RecurrentFirst, Reweight, StanleySchedule,
                                                   UniformNoise, WeightNoise)
from nas.evolution.neat.params import NEATParams

NOISE = {"gaussian": GaussianNoise, "uniform": UniformNoise}
MUTATION = {"independent": IndependentMutation, "exclusive": ExclusiveMutation}


@dataclass(frozen=True)
class Operators:
    """One run's rules, built once from its NEATParams."""
    noise: WeightNoise  # initial weights
    mutation: Mutation
    crossover: Crossover
    mate_only: MateOnly


def operators(p: NEATParams) -> Operators:
    noise = NOISE[p.weight_noise](p.weight_init_std)
    crossover = (AveragingCrossover(p.inherit_disabled_prob, p.crossover_average_prob)
                 if p.crossover_average_prob > 0 else Crossover(p.inherit_disabled_prob))
    mate_only = MateOnlyChance(p.mate_only_prob) if p.mate_only_prob > 0 else MateOnly()
    return Operators(noise, _mutation(p, noise), crossover, mate_only)


def _mutation(p: NEATParams, noise: WeightNoise) -> Mutation:
    schedule = (StanleySchedule() if p.weight_schedule == "stanley"
                else PerConnection(p.weight_perturb_prob))
    reweight = Reweight(schedule, noise, p.weight_sigma, p.weight_init_std, p.weight_limit)
    add_connection = AddConnection(_links(p), noise)
    return MUTATION[p.mutation](reweight, add_connection, p.weight_mutation_prob,
                                p.add_node_prob, p.add_connection_prob, p.enable_prob,
                                p.disable_prob)


def _links(p: NEATParams) -> LinkChoice:
    if not p.recurrent:
        return FeedForwardLinks()
    if p.recurrent_link_prob is None:
        return AnyOpenLink()
    return RecurrentFirst(p.recurrent_link_prob)
