"""The ask/tell surface every algorithm shares (after evosax), and the base of the tensor ones.

An algorithm evolves one seed's population of `size` genomes: `init` makes its state from a
generator, `ask` returns the genomes to evaluate, `tell` takes their fitness `[size]` and
returns the next state. What a batch of genomes is depends on the algorithm, which is why
the protocol is generic in it: a `[size, n_params]` tensor for GA and CoSyNE (one row per
network of fixed topology), a `list[Genome]` of length `size` for NEAT (graphs of their
own shapes). The mode that owns the algorithm knows which and compiles it into a policy.

State is plain data, never changed in place by `tell` (a caller may keep an old state and
tell it again); all randomness comes from the generator passed in, so a seed's run never
depends on its neighbours. NaN fitness ranks worst. Nothing here knows about tasks.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol, TypeVar, runtime_checkable

import torch

from nas.errors import NasError

State = TypeVar("State")
Genomes = TypeVar("Genomes")  # torch.Tensor [size, n_params] (GA, CoSyNE) or list[Genome] (NEAT)


@runtime_checkable
class Algorithm(Protocol[State, Genomes]):
    size: int  # genomes per `ask`; `run_evolution` draws this many episode starts per seed

    def init(self, generator: torch.Generator) -> State: ...

    def ask(self, state: State) -> Genomes: ...

    def tell(self, state: State, fitness: torch.Tensor, generator: torch.Generator) -> State: ...


def clean_fitness(fitness: torch.Tensor) -> torch.Tensor:
    return torch.nan_to_num(fitness, nan=-torch.inf)


class TensorAlgorithm(Algorithm[State, torch.Tensor]):
    """Shared by algorithms whose population is one `[size, n_params]` tensor (GA, CoSyNE).

    It holds the structure (`n_params`, `size`, `dtype`) beside the hyperparameters
    (`params`, which must have `init_std`), draws the first population as
    `randn(size, n_params) * init_std`, asks with the state's `population`, and in `tell`
    checks the fitness shape, ranks NaN worst and counts the generation. A subclass gives
    `_state` (wrap the first population in its state class) and `_tell` (its own
    reproduction, returning a state whose `population` has `size` rows).
    """

    min_population = 1

    def __init__(self, n_params: int, population: int, params: Any, dtype=torch.float32):
        if population < self.min_population:
            raise NasError(f"{type(self).__name__} needs a population of at least "
                           f"{self.min_population}")
        self.n_params, self.size, self.params, self.dtype = n_params, population, params, dtype

    @classmethod
    def for_network(cls, spec, population: int, params: Any) -> "TensorAlgorithm":
        """The algorithm for a network (a NetworkSpec): by its parameter count, unless an
        algorithm needs more of its layout (CMA-ES without biases)."""
        return cls(spec.n_params, population, params)

    def init(self, generator: torch.Generator) -> State:
        pop = torch.randn(self.size, self.n_params, generator=generator, dtype=self.dtype)
        return self._state(pop * self.params.init_std)

    def ask(self, state: State) -> torch.Tensor:
        return state.population

    def tell(self, state: State, fitness: torch.Tensor, generator: torch.Generator) -> State:
        if tuple(fitness.shape) != (self.size,):
            raise NasError(f"{type(self).__name__}.tell needs fitness of shape [{self.size}], "
                           f"got {list(fitness.shape)}")
        nxt = self._tell(state, clean_fitness(fitness), generator)
        return replace(nxt, generation=state.generation + 1)

    def _state(self, population: torch.Tensor) -> State:
        raise NotImplementedError

    def _tell(self, state: State, fitness: torch.Tensor, generator: torch.Generator) -> State:
        """The next state from NaN-free fitness (NaN already replaced by -inf)."""
        raise NotImplementedError
