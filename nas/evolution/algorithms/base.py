"""The ask/tell surface every algorithm shares (after evosax).

An algorithm evolves one seed's population: `init` makes its state from a generator,
`ask` returns the genomes to evaluate `[population, n_params]`, `tell` takes their
fitness `[population]` and returns the next state. State is plain data; all randomness
comes from the generator passed in, so a seed's run never depends on its neighbours.
NaN fitness ranks worst. Nothing here knows about tasks.
"""
from __future__ import annotations

from typing import Any, Protocol

import torch


class Algorithm(Protocol):
    def init(self, generator: torch.Generator) -> Any: ...

    def ask(self, state: Any) -> torch.Tensor: ...

    def tell(self, state: Any, fitness: torch.Tensor, generator: torch.Generator) -> Any: ...


def clean_fitness(fitness: torch.Tensor) -> torch.Tensor:
    return torch.nan_to_num(fitness, nan=-torch.inf)
