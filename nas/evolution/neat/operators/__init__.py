"""NEAT's variants as operators, as TensorNEAT's genome/operations: each rule that
Stanley's code or nas changes from the paper is a class beside the paper's, and
`operators(params)` picks one of each from `NEATParams` (which validated the choices).
The generation loop (`NEAT.tell`) calls them without asking which they are, so a new
variant is a new class and one line here, not a branch in the loop.
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
from nas.evolution.neat.operators.reproduction import (Breeding, DeltaCoding, Obliteration,
                                                       PeriodicObliteration, PopulationStall,
                                                       Reproduction, StagnationPenalty,
                                                       StagnationRemoval)
from nas.evolution.neat.operators.speciation import (Champion, FixedThreshold, RandomMember,
                                                     Representatives, TargetSpecies,
                                                     ThresholdControl)
from nas.evolution.neat.params import NEATParams

NOISE = {"gaussian": GaussianNoise, "uniform": UniformNoise}
MUTATION = {"independent": IndependentMutation, "exclusive": ExclusiveMutation}
REPRESENTATIVES = {"random": RandomMember, "champion": Champion}


@dataclass(frozen=True)
class Operators:
    """One run's rules, built once from its NEATParams."""
    noise: WeightNoise  # initial weights
    mutation: Mutation
    crossover: Crossover
    representatives: Representatives
    threshold: ThresholdControl
    reproduction: Reproduction


def operators(p: NEATParams) -> Operators:
    noise = NOISE[p.weight_noise](p.weight_init_std)
    mutation = _mutation(p, noise)
    crossover = (AveragingCrossover(p.inherit_disabled_prob, p.crossover_average_prob)
                 if p.crossover_average_prob > 0 else Crossover(p.inherit_disabled_prob))
    threshold = (FixedThreshold() if p.target_species is None
                 else TargetSpecies(p.target_species, p.threshold_step, p.threshold_min))
    return Operators(noise, mutation, crossover, REPRESENTATIVES[p.representative](),
                     threshold, _reproduction(p, mutation, crossover))


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


def _reproduction(p: NEATParams, mutation: Mutation, crossover: Crossover) -> Reproduction:
    stagnation = (StagnationRemoval(p.stagnation, p.protected_species)
                  if p.stagnation_penalty is None
                  else StagnationPenalty(p.stagnation, p.stagnation_penalty))
    obliteration = (Obliteration() if p.obliterate_every is None
                    else PeriodicObliteration(p.obliterate_every, p.obliterate_age))
    stall = (PopulationStall() if p.population_stagnation is None
             else DeltaCoding(p.population_stagnation, mutation.reweight,
                              mutation.add_connection, p.add_connection_prob))
    mate_only = MateOnlyChance(p.mate_only_prob) if p.mate_only_prob > 0 else MateOnly()
    breeding = Breeding(p.elitism, p.elitism_min_size, p.survival_threshold, p.crossover_rate,
                        p.interspecies_rate, crossover, mate_only, mutation)
    return Reproduction(stagnation, obliteration, stall, breeding)
