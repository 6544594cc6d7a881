"""Speciation: the paper's rule (`speciate`) and its two variable parts as operators,
whom the children are compared with (representatives) and how the compatibility
threshold moves between generations (threshold control).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nas.evolution.neat.genes import GeneKey, Genome, key_distance
from nas.evolution.neat.params import NEATParams


@dataclass
class Species:
    id: int
    members: list[int]  # indices into NEATState.population
    created: int  # generation
    best_fitness: float = -math.inf
    last_improved: int = 0
    obliterated: bool = False  # flagged by obliterate_every: stagnant from then on


def speciate(genomes: list[Genome], representatives: list[tuple[Species, Genome]],
             threshold: float, next_species: int, generation: int,
             params: NEATParams) -> tuple[list[Species], int]:
    """Each genome joins the first species (in order) whose representative is closer than
    the threshold, else founds a new species with itself as representative. Empty
    species disappear; survivors keep their id and stagnation record. (NEAT.tell runs
    the compiled twin, `batched.speciate`; this is its reference.)"""
    groups = [(Species(sp.id, [], sp.created, sp.best_fitness, sp.last_improved,
                       sp.obliterated), GeneKey(rep))
              for sp, rep in representatives]
    for i, genome in enumerate(genomes):
        key = GeneKey(genome)
        for sp, rep in groups:
            if key_distance(key, rep, params, threshold) < threshold:
                sp.members.append(i)
                break
        else:
            groups.append((Species(next_species, [i], generation, -math.inf, generation), key))
            next_species += 1
    return [sp for sp, _ in groups if sp.members], next_species


class Representatives:
    """Whom the next generation's children are compared with, per previous species."""

    def pick(self, species: list[Species], counts: list[int], pools: list[list[int]],
             pop: list[Genome], rng: np.random.Generator) -> list[tuple[Species, Genome]]:
        raise NotImplementedError


class RandomMember(Representatives):
    """The paper's: a random member of each species that bred (one draw per species)."""

    def pick(self, species, counts, pools, pop, rng):
        return [(sp, pop[sp.members[int(rng.integers(len(sp.members)))]])
                for sp, n in zip(species, counts) if n > 0]


class Champion(Representatives):
    """Stanley's code: every species' champion (`pools[k][0]`), which keeps a species
    centred on its best and lets a child rejoin a species that bred none; no draws."""

    def pick(self, species, counts, pools, pop, rng):
        return [(sp, pop[pools[k][0]]) for k, sp in enumerate(species)]


class ThresholdControl:
    """The compatibility threshold for the next speciation, given this one's count."""

    def adapt(self, threshold: float, n_species: int) -> float:
        raise NotImplementedError


class FixedThreshold(ThresholdControl):
    """The paper's: delta_t stays put."""

    def adapt(self, threshold: float, n_species: int) -> float:
        return threshold


@dataclass(frozen=True)
class TargetSpecies(ThresholdControl):
    """A step towards `target` species (up when there are more, down when fewer), never
    below `minimum`: the rule Stanley's population.cpp carries commented out."""
    target: int
    step: float
    minimum: float

    def adapt(self, threshold: float, n_species: int) -> float:
        if n_species == self.target:
            return threshold
        step = self.step if n_species > self.target else -self.step
        return max(self.minimum, threshold + step)
