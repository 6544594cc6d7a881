"""NEAT as an ask/tell algorithm over one seed's population.

`tell` does, in order: species stagnation (a species whose best fitness has not improved
for `stagnation` generations is removed, except the `protected_species` best; with
`stagnation_penalty`, as Stanley's code, it stays and its share is multiplied by the
penalty, no species protected; `obliterate_every` adds his periodic flagging of the
worst old species as stagnant), explicit
fitness sharing (a species' share is the sum of f_i / |species|, i.e. its mean fitness,
after shifting fitness so the minimum is 0 when any is negative; NaN ranks worst and
shares as the minimum), offspring proportional to the shares (largest remainders; the
species holding the best genome always gets at least one), per species: the champion
copied unchanged when the species has more than `elitism_min_size` members, parents
drawn uniformly from the top `survival_threshold`, crossover with probability
`crossover_rate` (the mate from another species with `interspecies_rate`), every
non-elite child then mutated; finally speciation of the new population against one
random member of each previous species (the paper's representatives; with
`representative="champion"`, as Stanley's code, each previous species' champion, every
species a candidate even if it bred no child). With
`population_stagnation` set, a population whose record fitness has stood still that long
is instead bred from the champions of its two best species alone (Stanley's delta coding).

All randomness comes from a numpy Generator seeded from the caller's torch.Generator
(one draw per call), so the same seed gives the same run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from nas.errors import NasError
from nas.evolution.algorithms.base import Algorithm
from nas.evolution.neat.genes import (GeneKey, Genome, InnovationTracker, key_distance,
                                      minimal_genome)
from nas.evolution.neat.operators import operators
from nas.evolution.neat.params import NEATParams


@dataclass
class Species:
    id: int
    members: list[int]  # indices into NEATState.population
    created: int  # generation
    best_fitness: float = -math.inf
    last_improved: int = 0
    obliterated: bool = False  # flagged by obliterate_every: stagnant from then on


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


def speciate(genomes: list[Genome], representatives: list[tuple[Species, Genome]],
             threshold: float, next_species: int, generation: int,
             params: NEATParams) -> tuple[list[Species], int]:
    """Each genome joins the first species (in order) whose representative is closer than
    the threshold, else founds a new species with itself as representative. Empty
    species disappear; survivors keep their id and stagnation record."""
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


def adapt_threshold(threshold: float, n_species: int, params: NEATParams) -> float:
    if params.target_species is None or n_species == params.target_species:
        return threshold
    step = params.threshold_step if n_species > params.target_species else -params.threshold_step
    return max(params.threshold_min, threshold + step)


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

    def init(self, generator: torch.Generator) -> NEATState:
        rng, p, n_in, n_out = numpy_rng(generator), self.params, self.n_inputs, self.n_outputs
        pop = [minimal_genome(n_in, n_out, self.ops.noise.fresh(rng, n_in * n_out))
               for _ in range(self.size)]
        species, next_species = speciate(pop, [], p.compatibility_threshold, 0, 0, p)
        return NEATState(pop, species, adapt_threshold(p.compatibility_threshold, len(species), p),
                         next_innovation=self.n_inputs * self.n_outputs,
                         next_node=self.n_inputs + self.n_outputs, next_species=next_species)

    def ask(self, state: NEATState) -> list[Genome]:
        return state.population

    def tell(self, state: NEATState, fitness: torch.Tensor,
             generator: torch.Generator) -> NEATState:
        fit = self._fitness(fitness)
        rng, p, gen = numpy_rng(generator), self.params, state.generation
        record, last_improved = state.best_fitness, state.last_improved
        if fit.max() > record:
            record, last_improved = float(fit.max()), gen
        species = self._survivors(state.species, fit, gen)
        best_i = int(np.argmax(fit))
        holder = next(k for k, sp in enumerate(species) if best_i in sp.members)
        delta = (p.population_stagnation is not None
                 and gen - last_improved >= p.population_stagnation)
        if delta:
            counts = self._delta_counts(species, fit, gen)
            last_improved = gen
        else:
            counts = allocate(self._shares(species, fit, gen), self.size, holder)
        tracker = InnovationTracker(state.next_innovation, state.next_node)
        pools = [self._ranked(sp, fit) for sp in species]
        children: list[Genome] = []
        for k, (sp, n) in enumerate(zip(species, counts)):
            if delta:
                children += self._champion_offspring(state.population[pools[k][0]], n, rng, tracker)
            else:
                children += self._breed(k, pools, n, state.population, fit, rng, tracker)
        reps = self._representatives(species, counts, pools, state.population, rng)
        new_species, next_species = speciate(children, reps, state.threshold,
                                             state.next_species, gen + 1, p)
        return NEATState(children, new_species,
                         adapt_threshold(state.threshold, len(new_species), p),
                         tracker.next_innovation, tracker.next_node, next_species, gen + 1,
                         record, last_improved)

    def _delta_counts(self, species: list[Species], fit: np.ndarray, gen: int) -> list[int]:
        """Stanley's delta coding: the two species with the best genomes this generation
        get half the population each (one species: all of it), the rest none; both
        count as improved now, so species stagnation does not remove them next."""
        order = sorted(range(len(species)), key=lambda k: -float(fit[species[k].members].max()))
        counts = [0] * len(species)
        counts[order[0]] = self.size // 2 if len(order) > 1 else self.size
        if len(order) > 1:
            counts[order[1]] = self.size - self.size // 2
        for k in order[:2]:
            species[k].last_improved = gen
        return counts

    def _champion_offspring(self, champion: Genome, n: int, rng: np.random.Generator,
                            tracker: InnovationTracker) -> list[Genome]:
        """n children of one champion (the code's super-champion offspring): one exact
        copy, the rest with their weights mutated (80%) or a new connection (20%)."""
        out = [champion.copy()] if n > 0 else []
        while len(out) < n:
            child = champion.copy()
            if rng.random() < 0.8 or self.params.add_connection_prob == 0:
                self.ops.mutation.reweight(child, rng)
            else:
                self.ops.mutation.add_connection(child, tracker, rng)
            out.append(child)
        return out

    def _fitness(self, fitness: torch.Tensor) -> np.ndarray:
        fit = fitness.detach().cpu().to(torch.float64).numpy().reshape(-1)
        if fit.shape[0] != self.size:
            raise NasError(f"NEAT.tell needs {self.size} fitness values, got {fit.shape[0]}")
        return np.where(np.isnan(fit), -np.inf, fit)

    def _survivors(self, species: list[Species], fit: np.ndarray, gen: int) -> list[Species]:
        """Update each species' best fitness and obliteration flag; drop the stagnant, but
        never the best ones (with stagnation_penalty nothing is dropped: `_shares`
        penalises them instead)."""
        updated = []
        for sp in species:
            best = float(fit[sp.members].max())
            improved = best > sp.best_fitness
            updated.append(Species(sp.id, list(sp.members), sp.created,
                                   best if improved else sp.best_fitness,
                                   gen if improved else sp.last_improved, sp.obliterated))
        self._obliterate(updated, fit, gen)
        if self.params.stagnation_penalty is not None:
            return updated
        ranking = sorted(range(len(updated)), key=lambda k: -updated[k].best_fitness)
        protected = set(ranking[:self.params.protected_species])
        best_holder = int(np.argmax(fit))
        return [sp for k, sp in enumerate(updated)
                if k in protected or best_holder in sp.members
                or not self._stagnant(sp, gen)]

    def _stagnant(self, sp: Species, gen: int) -> bool:
        return sp.obliterated or gen - sp.last_improved >= self.params.stagnation

    def _obliterate(self, species: list[Species], fit: np.ndarray, gen: int) -> None:
        """Stanley's code, every `obliterate_every` generations (counted from 1, as his
        are): the species whose champion is worst this generation, among those at least
        `obliterate_age` generations old, is flagged (his code then flags the best
        species when none is old enough; nas flags none)."""
        every = self.params.obliterate_every
        if every is None or (gen + 1) % every:
            return
        old = [sp for sp in species if gen - sp.created >= self.params.obliterate_age]
        if old:
            min(old, key=lambda sp: float(fit[sp.members].max())).obliterated = True

    def _shares(self, species: list[Species], fit: np.ndarray, gen: int) -> np.ndarray:
        finite = fit[np.isfinite(fit)]
        low = float(finite.min()) if finite.size else 0.0
        shifted = np.where(np.isfinite(fit), fit, low)
        shifted = np.clip(shifted, -1e300, 1e300)
        if low < 0:
            shifted = shifted - low
        shares = np.array([shifted[sp.members].sum() / len(sp.members) for sp in species])
        penalty = self.params.stagnation_penalty
        if penalty is not None:
            shares *= [penalty if self._stagnant(sp, gen) else 1.0 for sp in species]
        return shares

    def _representatives(self, species: list[Species], counts: list[int],
                         pools: list[list[int]], pop: list[Genome],
                         rng: np.random.Generator) -> list[tuple[Species, Genome]]:
        """Whom the children are compared with: a random member of each species that bred
        (the paper), or every species' champion (Stanley's code, which keeps a species
        centred on its best and lets a child rejoin a species that bred none)."""
        if self.params.representative == "champion":
            return [(sp, pop[pools[k][0]]) for k, sp in enumerate(species)]
        return [(sp, pop[sp.members[int(rng.integers(len(sp.members)))]])
                for sp, n in zip(species, counts) if n > 0]

    def _ranked(self, sp: Species, fit: np.ndarray) -> list[int]:
        members = np.array(sp.members)
        return [int(i) for i in members[np.argsort(-fit[members], kind="stable")]]

    def _breed(self, k: int, pools: list[list[int]], n: int, pop: list[Genome],
               fit: np.ndarray, rng: np.random.Generator,
               tracker: InnovationTracker) -> list[Genome]:
        p, ranked = self.params, pools[k]
        out: list[Genome] = []
        if n > 0 and len(ranked) > p.elitism_min_size:
            out += [pop[i].copy() for i in ranked[:min(p.elitism, n)]]
        parents = ranked[:max(1, math.ceil(p.survival_threshold * len(ranked)))]
        while len(out) < n:
            a = parents[int(rng.integers(len(parents)))]
            if rng.random() < p.crossover_rate:
                b = self._mate(k, a, parents, pools, rng)
                child = self.ops.crossover(pop[a], fit[a], pop[b], fit[b], rng)
                if self.ops.mate_only.keeps(a, b, rng):
                    out.append(child)
                    continue
            else:
                child = pop[a].copy()
            self.ops.mutation(child, tracker, rng)
            out.append(child)
        return out

    def _mate(self, k: int, a: int, parents: list[int], pools: list[list[int]],
              rng: np.random.Generator) -> int:
        if len(pools) > 1 and rng.random() < self.params.interspecies_rate:
            other = [j for j in range(len(pools)) if j != k][int(rng.integers(len(pools) - 1))]
            pool = pools[other][:max(1, math.ceil(self.params.survival_threshold
                                                  * len(pools[other])))]
            return pool[int(rng.integers(len(pool)))]
        others = [i for i in parents if i != a] or parents
        return others[int(rng.integers(len(others)))]

    def stats(self, state: NEATState) -> dict:
        pop = state.population
        return {"species": len(state.species),
                "nodes": sum(g.n_nodes for g in pop) / len(pop),
                "connections": sum(len(g.enabled()) for g in pop) / len(pop)}
