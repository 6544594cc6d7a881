"""Reproduction: which species survive (stagnation, obliteration), how many children
each gets (explicit fitness sharing, or delta coding after a population-wide stall) and
how a species breeds them. The variable parts are operators (base class = interface,
subclass = one published rule); `Reproduction` composes them in the fixed order that
keeps every run's random draws where they were.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from nas.evolution.neat.genes import Genome, InnovationTracker
from nas.evolution.neat.operators.crossover import Crossover, MateOnly
from nas.evolution.neat.operators.mutation import AddConnection, Mutation, Reweight
from nas.evolution.neat.operators.speciation import Species

# (k, pools, n, pop, fit, rng, tracker) -> species k's n children
Offspring = Callable[[int, list[list[int]], int, list[Genome], np.ndarray,
                      np.random.Generator, InnovationTracker], list[Genome]]


def ranked(sp: Species, fit: np.ndarray) -> list[int]:
    """A species' members, best first (ties in member order)."""
    members = np.array(sp.members)
    return [int(i) for i in members[np.argsort(-fit[members], kind="stable")]]


def ranked_all(species: list[Species], fit: np.ndarray) -> list[list[int]]:
    """`ranked` of every species, in one sort (a stable sort by species, then fitness)."""
    sizes = [len(sp.members) for sp in species]
    members = np.array([i for sp in species for i in sp.members], np.int64)
    which = np.repeat(np.arange(len(species)), sizes)
    flat = members[np.lexsort((-fit[members], which))].tolist()
    ends = np.cumsum(sizes).tolist()
    return [flat[end - size:end] for size, end in zip(sizes, ends)]


def species_best(species: list[Species], fit: np.ndarray) -> list[float]:
    """Each (non-empty) species' best fitness this generation."""
    if not species:
        return []
    members = np.array([i for sp in species for i in sp.members], np.int64)
    starts = np.cumsum([0] + [len(sp.members) for sp in species[:-1]])
    return np.maximum.reduceat(fit[members], starts).tolist()


def fitness_shares(species: list[Species], fit: np.ndarray) -> np.ndarray:
    """Explicit fitness sharing: a species' share is the sum of f_i / |species|, i.e. its
    mean fitness, after shifting fitness so the minimum is 0 when any is negative; NaN
    (already -inf) shares as the minimum."""
    finite = fit[np.isfinite(fit)]
    low = float(finite.min()) if finite.size else 0.0
    shifted = np.where(np.isfinite(fit), fit, low)
    shifted = np.clip(shifted, -1e300, 1e300)
    if low < 0:
        shifted = shifted - low
    return np.array([shifted[sp.members].sum() / len(sp.members) for sp in species])


def allocate(shares: np.ndarray, total: int, must_have: int) -> list[int]:
    """Offspring per species proportional to shares, summing to total (largest
    remainders, ties to the earlier species); species `must_have` gets at least one."""
    if shares.sum() <= 0 or not np.isfinite(shares.sum()):
        shares = np.ones_like(shares)
    raw = shares / shares.sum() * total
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[:total - counts.sum()]] += 1
    if counts[must_have] == 0:
        counts[int(np.argmax(counts))] -= 1
        counts[must_have] = 1
    return [int(c) for c in counts]


@dataclass(frozen=True)
class Stagnation:
    """What happens to a species whose best has not improved for `limit` generations (or
    that obliteration flagged)."""
    limit: int

    def stagnant(self, sp: Species, gen: int) -> bool:
        return sp.obliterated or gen - sp.last_improved >= self.limit

    def survivors(self, species: list[Species], fit: np.ndarray, gen: int) -> list[Species]:
        raise NotImplementedError

    def penalise(self, shares: np.ndarray, species: list[Species], gen: int) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class StagnationRemoval(Stagnation):
    """The paper's: stagnant species are removed, except the `protected` best (by best
    fitness ever) and the one holding this generation's best genome."""
    protected: int = 1

    def survivors(self, species, fit, gen):
        ranking = sorted(range(len(species)), key=lambda k: -species[k].best_fitness)
        protected = set(ranking[:self.protected])
        best_holder = int(np.argmax(fit))
        return [sp for k, sp in enumerate(species)
                if k in protected or best_holder in sp.members or not self.stagnant(sp, gen)]

    def penalise(self, shares, species, gen):
        return shares


@dataclass(frozen=True)
class StagnationPenalty(Stagnation):
    """Stanley's code (adjust_fitness): stagnant species stay, none protected, their share
    multiplied by `penalty`."""
    penalty: float = 0.01

    def survivors(self, species, fit, gen):
        return species

    def penalise(self, shares, species, gen):
        shares *= [self.penalty if self.stagnant(sp, gen) else 1.0 for sp in species]
        return shares


class Obliteration:
    """Flags species as stagnant for good (the paper's: none)."""

    def flag(self, species: list[Species], fit: np.ndarray, gen: int) -> None:
        return None


@dataclass(frozen=True)
class PeriodicObliteration(Obliteration):
    """Stanley's code, every `every` generations (counted from 1, as his are): the species
    whose champion is worst this generation, among those at least `age` generations old,
    is flagged (his code then flags the best species when none is old enough; nas flags
    none)."""
    every: int
    age: int

    def flag(self, species, fit, gen):
        if (gen + 1) % self.every:
            return
        old = [sp for sp in species if gen - sp.created >= self.age]
        if old:
            min(old, key=lambda sp: float(fit[sp.members].max())).obliterated = True


@dataclass(frozen=True)
class Breeding:
    """The paper's breeding within a species: the champion copied unchanged (up to
    `elitism`) when the species has more than `elitism_min_size` members, parents drawn
    uniformly from the top `survival` fraction, crossover with `crossover_rate` (the mate
    from another species with `interspecies_rate`), every other child mutated."""
    elitism: int
    elitism_min_size: int
    survival: float
    crossover_rate: float
    interspecies_rate: float
    crossover: Crossover
    mate_only: MateOnly
    mutation: Mutation

    def offspring(self, k: int, pools: list[list[int]], n: int, pop: list[Genome],
                  fit: np.ndarray, rng: np.random.Generator,
                  tracker: InnovationTracker) -> list[Genome]:
        top = pools[k]
        out: list[Genome] = []
        if n > 0 and len(top) > self.elitism_min_size:
            out += [pop[i].copy() for i in top[:min(self.elitism, n)]]
        parents = self._parents(top)
        while len(out) < n:
            a = parents[int(rng.integers(len(parents)))]
            if rng.random() < self.crossover_rate:
                b = self._mate(k, a, parents, pools, rng)
                child = self.crossover(pop[a], fit[a], pop[b], fit[b], rng)
                if self.mate_only.keeps(a, b, rng):
                    out.append(child)
                    continue
            else:
                child = pop[a].copy()
            self.mutation(child, tracker, rng)
            out.append(child)
        return out

    def compiled(self) -> dict | None:
        """Every option of the compiled breeding (`neat._compiled.breed`, the same draws
        as `offspring`), or None where an operator has no compiled form."""
        parts = (self.crossover.compiled(), self.mate_only.compiled(), self.mutation.compiled())
        if type(self) is not Breeding or None in parts:
            return None
        return {**parts[0], **parts[1], **parts[2], "elitism": self.elitism,
                "elitism_min_size": self.elitism_min_size, "survival": self.survival,
                "crossover_rate": self.crossover_rate,
                "interspecies_rate": self.interspecies_rate}

    def _parents(self, pool: list[int]) -> list[int]:
        return pool[:max(1, math.ceil(self.survival * len(pool)))]

    def _mate(self, k: int, a: int, parents: list[int], pools: list[list[int]],
              rng: np.random.Generator) -> int:
        if len(pools) > 1 and rng.random() < self.interspecies_rate:
            other = [j for j in range(len(pools)) if j != k][int(rng.integers(len(pools) - 1))]
            pool = self._parents(pools[other])
            return pool[int(rng.integers(len(pool)))]
        others = [i for i in parents if i != a] or parents
        return others[int(rng.integers(len(others)))]


@dataclass(frozen=True)
class Plan:
    """One generation's reproduction: children per species, who breeds them, and the
    generation the population's record now counts as set."""
    counts: list[int]
    offspring: Offspring
    last_improved: int


class PopulationStall:
    """What a population whose record has stood still does (the paper's: nothing new)."""

    def plan(self, species: list[Species], fit: np.ndarray, gen: int, last_improved: int,
             size: int) -> Plan | None:
        return None


@dataclass(frozen=True)
class DeltaCoding(PopulationStall):
    """Stanley's code: once the record has stood `after` generations, the two species with
    the best genomes this generation get half the population each (one species: all of
    it), bred from their champions alone; both count as improved now, so species
    stagnation does not remove them next, and the stall count restarts."""
    after: int
    reweight: Reweight
    add_connection: AddConnection
    add_connection_prob: float

    def plan(self, species, fit, gen, last_improved, size):
        if gen - last_improved < self.after:
            return None
        order = sorted(range(len(species)), key=lambda k: -float(fit[species[k].members].max()))
        counts = [0] * len(species)
        counts[order[0]] = size // 2 if len(order) > 1 else size
        if len(order) > 1:
            counts[order[1]] = size - size // 2
        for k in order[:2]:
            species[k].last_improved = gen
        return Plan(counts, self.offspring, gen)

    def offspring(self, k, pools, n, pop, fit, rng, tracker):
        """n children of species k's champion (the code's super-champion offspring): one
        exact copy, the rest with their weights mutated (80%) or a new connection (20%)."""
        champion = pop[pools[k][0]]
        out = [champion.copy()] if n > 0 else []
        while len(out) < n:
            child = champion.copy()
            if rng.random() < 0.8 or self.add_connection_prob == 0:
                self.reweight(child, rng)
            else:
                self.add_connection(child, tracker, rng)
            out.append(child)
        return out


@dataclass(frozen=True)
class Reproduction:
    """A generation's reproduction from its operators, in the order the draws follow."""
    stagnation: Stagnation
    obliteration: Obliteration
    stall: PopulationStall
    breeding: Breeding

    def survivors(self, species: list[Species], fit: np.ndarray, gen: int) -> list[Species]:
        """Each species' record updated (as new objects), obliteration flags set, then
        the stagnation rule applied."""
        updated = []
        for sp, best in zip(species, species_best(species, fit)):
            improved = best > sp.best_fitness
            updated.append(Species(sp.id, list(sp.members), sp.created,
                                   best if improved else sp.best_fitness,
                                   gen if improved else sp.last_improved, sp.obliterated))
        self.obliteration.flag(updated, fit, gen)
        return self.stagnation.survivors(updated, fit, gen)

    def shares(self, species: list[Species], fit: np.ndarray, gen: int) -> np.ndarray:
        return self.stagnation.penalise(fitness_shares(species, fit), species, gen)

    def plan(self, species: list[Species], fit: np.ndarray, gen: int, last_improved: int,
             size: int) -> Plan:
        """Delta coding when the stall rule calls for it, else offspring in proportion
        to the shares (the species holding the best genome gets at least one)."""
        stalled = self.stall.plan(species, fit, gen, last_improved, size)
        if stalled is not None:
            return stalled
        best_i = int(np.argmax(fit))
        holder = next(k for k, sp in enumerate(species) if best_i in sp.members)
        counts = allocate(self.shares(species, fit, gen), size, holder)
        return Plan(counts, self.breeding.offspring, last_improved)
