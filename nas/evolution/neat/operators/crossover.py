"""Crossover operators: how two parents make a child, and whether a crossover child is
mutated afterwards. As in mutation.py, each base class is the interface and each
subclass one published rule, its random draws in a fixed order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nas.evolution.neat.genes import Genome


@dataclass(frozen=True)
class Crossover:
    """The paper's: align by innovation; matching genes from a random parent, disjoint and
    excess genes from the fitter parent (equal fitness: the one with fewer genes, then
    `a`). A gene disabled in either parent stays disabled with `inherit_disabled_prob`."""
    inherit_disabled_prob: float

    def __call__(self, a: Genome, fitness_a: float, b: Genome, fitness_b: float,
                 rng: np.random.Generator) -> Genome:
        if fitness_b > fitness_a or (fitness_b == fitness_a
                                     and len(b.connections) < len(a.connections)):
            a, b = b, a
        average = self._averages(rng)
        child = Genome(a.n_inputs, a.n_outputs, list(a.hidden), {})
        for innov in sorted(a.connections):
            mine, other = a.connections[innov], b.connections.get(innov)
            if other is None:
                child.connections[innov] = mine.copy()
                continue
            gene = (mine if rng.random() < 0.5 else other).copy()
            if average:
                gene.weight = 0.5 * (mine.weight + other.weight)
            if not (mine.enabled and other.enabled):
                gene.enabled = not rng.random() < self.inherit_disabled_prob
            child.connections[innov] = gene
        return child

    def _averages(self, rng: np.random.Generator) -> bool:
        """Whether this crossover averages matching weights (the paper's never does)."""
        return False

    def compiled(self) -> dict | None:
        """Options for the compiled reproduction, or None (see mutation.WeightNoise)."""
        if type(self) is not Crossover:
            return None
        return {"averaging": 0, "average_prob": 0.0,
                "inherit_disabled_prob": self.inherit_disabled_prob}


@dataclass(frozen=True)
class AveragingCrossover(Crossover):
    """Stanley's code (mate_multipoint_avg): with `average_prob`, matching genes take the
    mean of both parents' weights (which parent's gene is copied is still drawn)."""
    average_prob: float = 0.0

    def _averages(self, rng: np.random.Generator) -> bool:
        return rng.random() < self.average_prob

    def compiled(self):
        if type(self) is not AveragingCrossover:
            return None
        return {"averaging": 1, "average_prob": self.average_prob,
                "inherit_disabled_prob": self.inherit_disabled_prob}


class MateOnly:
    """Whether a crossover child skips mutation (the paper's: never; no draw)."""

    def keeps(self, a: int, b: int, rng: np.random.Generator) -> bool:
        return False

    def compiled(self) -> dict | None:
        return {"mate_only": 0, "mate_only_prob": 0.0} if type(self) is MateOnly else None


@dataclass(frozen=True)
class MateOnlyChance(MateOnly):
    """Stanley's code (mate_only_prob): a crossover child of two different parents is left
    unmutated with `prob`; a genome mated with itself is still mutated, as in his code."""
    prob: float

    def keeps(self, a: int, b: int, rng: np.random.Generator) -> bool:
        return a != b and rng.random() < self.prob

    def compiled(self):
        if type(self) is not MateOnlyChance:
            return None
        return {"mate_only": 1, "mate_only_prob": self.prob}
