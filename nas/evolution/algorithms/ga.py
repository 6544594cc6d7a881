"""A generational genetic algorithm over real-valued genomes.

Elitism (the best `elite` genomes survive unchanged), tournament selection, optional
uniform crossover between two tournament winners, and Gaussian mutation whose sigma may
decay each generation.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from nas.errors import NasError
from nas.evolution.algorithms.base import TensorAlgorithm


@dataclass(frozen=True)
class GAParams:
    elite_fraction: float = 0.1
    tournament_size: int = 3
    sigma: float = 0.1
    sigma_decay: float = 1.0
    sigma_min: float = 1e-3
    crossover_rate: float = 0.0
    init_std: float = 1.0

    def __post_init__(self):
        if not 0.0 <= self.elite_fraction < 1.0:
            raise NasError("elite_fraction must be in [0, 1)")
        if self.tournament_size < 1:
            raise NasError("tournament_size must be at least 1")
        if self.sigma <= 0 or not 0 < self.sigma_decay <= 1:
            raise NasError("sigma must be > 0 and sigma_decay in (0, 1]")
        if not 0.0 <= self.crossover_rate <= 1.0:
            raise NasError("crossover_rate must be in [0, 1]")

    @staticmethod
    def suggest(trial, sigma: float) -> dict:
        """GA's part of the pure search space (`trial`: anything with Optuna's suggest_*
        methods; `sigma` is drawn for every algorithm before this)."""
        return {"sigma": sigma,
                "sigma_decay": trial.suggest_float("sigma_decay", 0.9, 1.0),
                "elite_fraction": trial.suggest_float("elite_fraction", 0.01, 0.3, log=True),
                "tournament_size": trial.suggest_int("tournament_size", 2, 8),
                "crossover_rate": trial.suggest_float("crossover_rate", 0.0, 0.5)}


@dataclass(frozen=True)
class GAState:
    population: torch.Tensor  # [population, n_params]
    sigma: float
    generation: int = 0


class GA(TensorAlgorithm[GAState]):
    def __init__(self, n_params: int, population: int, params: GAParams, dtype=torch.float32):
        super().__init__(n_params, population, params, dtype)
        self.n_elite = min(population - 1, max(1, round(params.elite_fraction * population))) \
            if params.elite_fraction > 0 else 0

    def _state(self, population: torch.Tensor) -> GAState:
        return GAState(population, self.params.sigma)

    def _tell(self, state: GAState, fitness: torch.Tensor, generator: torch.Generator) -> GAState:
        pop, n_child = state.population, self.size - self.n_elite
        elite = pop[torch.argsort(fitness, descending=True, stable=True)[:self.n_elite]]
        parents = pop[self._tournament(fitness, n_child, generator)]
        if self.params.crossover_rate > 0:
            parents = self._crossover(pop, fitness, parents, generator)
        noise = torch.randn(n_child, self.n_params, generator=generator, dtype=self.dtype)
        children = parents + state.sigma * noise
        sigma = max(self.params.sigma_min, state.sigma * self.params.sigma_decay)
        return replace(state, population=torch.cat([elite, children]), sigma=sigma)

    def _tournament(self, fitness: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
        entrants = torch.randint(0, self.size, (n, self.params.tournament_size), generator=generator)
        winners = fitness[entrants].argmax(dim=1)
        return entrants.gather(1, winners.unsqueeze(1)).squeeze(1)

    def _crossover(self, pop, fitness, parents, generator):
        n = len(parents)
        mates = pop[self._tournament(fitness, n, generator)]
        mix = torch.rand(n, self.n_params, generator=generator) < 0.5
        cross = torch.rand(n, generator=generator) < self.params.crossover_rate
        return torch.where(mix & cross.unsqueeze(1), mates, parents)
