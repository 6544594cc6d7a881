"""CoSyNE: cooperative synapse neuroevolution (Gomez, Schmidhuber & Miikkulainen, JMLR 2008).

The population is a matrix `[m, n]`: column j is the subpopulation of weight j, and
network i is row i. Each generation (the paper's Algorithm 1):

1. rank the rows by fitness;
2. the top `elite_fraction` of rows recombine (one-point crossover of two elite parents)
   and mutate (each weight with probability `mutation_rate`, Cauchy noise of scale
   `sigma` by default, as in the paper) into as many offspring, which replace the
   lowest-ranked rows;
3. within every column, weights are marked for permutation with probability
   1 - ((f - f_min) / (f_max - f_min)) ** (1/n) of their network's (normalised) fitness,
   so weights of good networks tend to stay together, and the marked weights of each
   column are shuffled among themselves. Offspring are never marked (they are new).

Everything is tensor work on `[m, n]`; the per-column shuffle is one argsort of random
keys in which unmarked entries keep their place.

Two options follow Gomez's released CoSyNE code rather than the paper's pseudo-code:
`init_range` > 0 draws the first weights uniformly in [-init_range, init_range] (his
`wtrange` 10) instead of normal(0, init_std); `burst_after` > 0 is his burst mutation: when
the best fitness has not improved for that many generations, every network becomes the
best one so far plus Cauchy noise of scale `burst_sigma` on every weight (0.05), the best
itself kept unchanged as the first row, so a stalled run searches around its best.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from nas.errors import NasError
from nas.evolution.algorithms.base import TensorAlgorithm


@dataclass(frozen=True)
class CoSyNEParams:
    elite_fraction: float = 0.25
    mutation_rate: float = 0.3
    sigma: float = 0.3
    noise: str = "cauchy"  # or "gaussian"
    permute: str = "probabilistic"  # or "all": every non-offspring weight is shuffled
    init_std: float = 1.0
    init_range: float = 0.0  # > 0: uniform in [-init_range, init_range] instead
    burst_after: int = 0  # generations without improvement before a burst mutation; 0: never
    burst_sigma: float = 0.05

    def __post_init__(self):
        if not 0.0 < self.elite_fraction <= 0.5:
            raise NasError("elite_fraction must be in (0, 0.5]")
        if not 0.0 <= self.mutation_rate <= 1.0 or self.sigma <= 0:
            raise NasError("mutation_rate must be in [0, 1] and sigma > 0")
        if self.noise not in ("cauchy", "gaussian") or self.permute not in ("probabilistic", "all"):
            raise NasError("noise must be cauchy|gaussian and permute probabilistic|all")
        if self.init_range < 0 or self.burst_after < 0 or self.burst_sigma <= 0:
            raise NasError("init_range and burst_after must be >= 0 and burst_sigma > 0")

    @staticmethod
    def suggest(trial, sigma: float) -> dict:
        """CoSyNE's part of the pure search space (`trial`: anything with Optuna's
        suggest_* methods; `sigma` is drawn for every algorithm before this)."""
        return {"sigma": sigma,
                "elite_fraction": trial.suggest_float("cosyne_elite_fraction", 0.1, 0.5),
                "mutation_rate": trial.suggest_float("mutation_rate", 0.05, 0.8),
                "noise": trial.suggest_categorical("noise", ["cauchy", "gaussian"])}


@dataclass(frozen=True)
class CoSyNEState:
    population: torch.Tensor  # [m, n]
    generation: int = 0
    best: torch.Tensor | None = None  # the best network so far (burst mutation only)
    best_fitness: float = float("-inf")
    stagnant: int = 0  # generations since best_fitness last improved


class CoSyNE(TensorAlgorithm[CoSyNEState]):
    min_population = 4  # two elite parents and room for the offspring beside them

    def __init__(self, n_params: int, population: int, params: CoSyNEParams, dtype=torch.float32):
        super().__init__(n_params, population, params, dtype)
        self.n_elite = max(2, round(params.elite_fraction * population))

    def init(self, generator: torch.Generator) -> CoSyNEState:
        if self.params.init_range <= 0:
            return super().init(generator)
        u = torch.rand(self.size, self.n_params, generator=generator, dtype=self.dtype)
        return self._state((u * 2 - 1) * self.params.init_range)

    def _state(self, population: torch.Tensor) -> CoSyNEState:
        return CoSyNEState(population)

    def _tell(self, state: CoSyNEState, fitness: torch.Tensor,
              generator: torch.Generator) -> CoSyNEState:
        order = torch.argsort(fitness, descending=True, stable=True)
        ranked, fit = state.population[order], fitness[order]
        if self.params.burst_after:
            state = self._track_best(state, ranked[0], float(fit[0]))
            if state.stagnant >= self.params.burst_after:
                return replace(state, population=self._burst(state.best, generator), stagnant=0)
        offspring = self._offspring(ranked[:self.n_elite], generator)
        keep = self.size - len(offspring)
        survivors = self._permute(ranked[:keep], fit[:keep], generator)
        return replace(state, population=torch.cat([survivors, offspring]))

    @staticmethod
    def _track_best(state: CoSyNEState, champion: torch.Tensor, fitness: float) -> CoSyNEState:
        if fitness > state.best_fitness:
            return replace(state, best=champion.clone(), best_fitness=fitness, stagnant=0)
        return replace(state, stagnant=state.stagnant + 1)

    def _burst(self, best: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Every network = the best + burst_sigma * Cauchy noise on every weight; row 0 the
        best itself."""
        u = torch.rand(self.size - 1, self.n_params, generator=generator, dtype=self.dtype)
        noise = torch.tan(torch.pi * (u - 0.5)) * self.params.burst_sigma
        return torch.cat([best.unsqueeze(0), best.unsqueeze(0) + noise])

    def _offspring(self, elite: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        k, n = len(elite), self.n_params
        a = torch.randint(0, k, (k,), generator=generator)
        b = torch.randint(0, k, (k,), generator=generator)
        cut = torch.randint(0, n + 1, (k, 1), generator=generator)
        children = torch.where(torch.arange(n).unsqueeze(0) < cut, elite[a], elite[b])
        mutate = torch.rand(k, n, generator=generator) < self.params.mutation_rate
        if self.params.noise == "cauchy":
            u = torch.rand(k, n, generator=generator, dtype=self.dtype)
            noise = torch.tan(torch.pi * (u - 0.5))
        else:
            noise = torch.randn(k, n, generator=generator, dtype=self.dtype)
        return children + mutate * self.params.sigma * noise

    def _permute(self, rows: torch.Tensor, fit: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        m, n = rows.shape
        if self.params.permute == "all":
            marked = torch.ones(m, n, dtype=torch.bool)
        else:
            finite = torch.where(torch.isfinite(fit), fit, fit[torch.isfinite(fit)].min()
                                 if bool(torch.isfinite(fit).any()) else torch.zeros_like(fit))
            span = finite.max() - finite.min()
            norm = (finite - finite.min()) / span if span > 0 else torch.zeros_like(finite)
            prob = 1.0 - norm.pow(1.0 / n)
            marked = torch.rand(m, n, generator=generator, dtype=prob.dtype) < prob.unsqueeze(1)
        # Marked entries get random keys, unmarked keep their row index as key: sorting each
        # column then shuffles the marked ones among the marked slots only.
        keys = torch.rand(m, n, generator=generator, dtype=torch.float64)
        slots = torch.arange(m, dtype=torch.float64).unsqueeze(1).expand(m, n)
        marked_slots = torch.sort(torch.where(marked, slots, torch.inf), dim=0).values
        shuffled_rows = torch.argsort(torch.where(marked, keys, torch.inf), dim=0)
        out = rows.clone()
        for_cols = torch.arange(n).unsqueeze(0).expand(m, n)
        count = marked.sum(0)
        valid = torch.arange(m).unsqueeze(1) < count.unsqueeze(0)
        dest = marked_slots[valid].long()
        src = shuffled_rows[valid]
        out[dest, for_cols[valid]] = rows[src, for_cols[valid]]
        return out
