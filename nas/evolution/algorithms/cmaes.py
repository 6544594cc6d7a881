"""CMA-ES (Hansen & Ostermeier 2001) through the `cmaes` package, the one Optuna's own
CmaEsSampler uses: its update is the published one, tested by its authors, not ours.

A seed's search distribution N(mean, sigma^2 C) starts at mean 0 with step size `sigma`;
each generation samples `size` genomes, and `tell` updates the distribution from their
fitness (cmaes minimizes, nas maximizes: the fitness is negated; NaN ranks worst, as +inf).
`separable` uses `cmaes.SepCMA` (a diagonal C: linear cost in the number of weights,
for large networks), and so does every distribution of more than FULL_MAX_DIM dimensions:
the package's full CMA costs O(n^3) per genome drawn and holds size x n^2 floats in its
update (n = 2,300, the search space's largest nets, took 13 s per generation of 20 on one
thread; at 100 genomes its update alone would hold 4 GB); `biases=False` searches the weights only, every bias held at 0 (the
bias-free nets of Igel 2003 and of the best published double-pole figures): the
distribution has the weights' dimension, and the genome is the full layout with zeros
where the biases are, so the networks and kernels evaluate it like any other.

Randomness: the `cmaes` object draws from its own numpy RandomState, which this module
reseeds from the seed's torch generator before every sampling, so all randomness still
comes from the generator passed in (and a checkpoint need not hold numpy's rng). The state
keeps the distribution as the object's own pickle state (`__getstate__`: plain numpy
arrays and numbers, no rng), rebuilt for each `tell`, so a state is never changed in
place and a resumed run goes through exactly the same numbers as an uninterrupted one.

Threads: the `cmaes` update is numpy linear algebra (eigh, matrix products), whose bits for
a large network depend on how many threads the BLAS splits them over. Workers run numpy
with one BLAS thread (nas.worker.threads); elsewhere (a script, a test) `one_blas_thread`
holds numpy's BLAS at one thread during the update (threadpoolctl, which finds and sets
OpenBLAS, MKL or BLIS alike: nothing of ours that knows their symbols), so a seed gives
the same bits in any process.

Divergence: the package asserts every genome told is below 1e32 in size (an
AssertionError that would end the whole trial, every seed with it). A run whose genomes
reach that (or inf, NaN) has diverged: with restarts it restarts; without, it is over and
asks the same genomes again, its distribution kept as it was, so the seed ends unsolved
(or at run_evolution's stagnation limit) while its neighbours go on.

Restarts (`restarts`, on by default as in genoxide and Igel 2003; not searched): a run
that converged without a solution never leaves its optimum. After each `tell` a run
restarts from a fresh mean drawn N(0, sigma^2 I) from the seed's generator (where the
first generation's genomes come from) with the initial sigma, when its best fitness has
not risen for 100 + 100 n^1.5 / size generations (pycma's tolstagnation) or when the
package's `should_stop()` says so (Hansen's criteria: flat fitness, sigma collapsed or
diverging, condition number).

Neither fires on a run stuck on a slope that keeps creeping up: on the double pole a
failing net's best rises by a few steps every few dozen generations, the stall counter
resets each time, and the seed spends thousands of evaluations there before (if ever) it
restarts, while a run that will solve does so early. `run_generations` (searched:
`cmaes_run_generations`, 0 = no cap) restarts every run that has not solved after that
many generations, however it is doing: with a success chance p per run and a cap near
where most successful runs have finished, the expected cost is about E[min(T, cap)] / p,
far below the stuck seeds' tail. The cap counts the distribution's own generations (the
`cmaes` object's counter, reset on restart), so it is part of the state a checkpoint
keeps. The population size stays: genomes are [size, n_params] tensors for the whole
run (no IPOP doubling: run_evolution evaluates every seed's generation as one batch of
equal-sized populations).
"""
from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
import torch
from threadpoolctl import ThreadpoolController

from nas.errors import NasError
from nas.evolution.algorithms.base import TensorAlgorithm

_SEED_SPAN = 2 ** 31 - 1  # numpy RandomState seeds are 32-bit
_GENOME_MAX = 1e32  # the cmaes package asserts every genome told is below (its _MEAN_MAX)
FULL_MAX_DIM = 300  # above: SepCMA whatever `separable` says (the full C is O(n^3) a draw)
RUN_CAPS = [0, 25, 50, 100, 200, 400]  # the space's choices of run_generations (0: no cap)


@functools.cache
def _blas() -> ThreadpoolController:
    """numpy's BLAS libraries (whichever: OpenBLAS, MKL...), found once per process."""
    return ThreadpoolController().select(user_api="blas")


def one_blas_thread():
    """A context in which numpy's BLAS runs one thread, as it was after."""
    return _blas().limit(limits=1)


def default_population(n: int) -> int:
    """CMA-ES's own population size for n dimensions: 4 + floor(3 ln n) (Hansen)."""
    return 4 + math.floor(3 * math.log(max(1, n)))


@dataclass(frozen=True)
class CMAESParams:
    sigma: float = 0.3  # the initial step size
    separable: bool = False  # cmaes.SepCMA: diagonal covariance
    biases: bool = True  # False: biases held at 0, only the weights searched
    restarts: bool = True  # restart a converged or stalled run from a fresh mean
    run_generations: int = 0  # > 0: also restart every run unsolved after this many (0: no cap)

    def __post_init__(self):
        if not (self.sigma > 0 and math.isfinite(self.sigma)):
            raise NasError("cmaes sigma must be a positive number")
        if not (isinstance(self.run_generations, int) and self.run_generations >= 0):
            raise NasError("cmaes run_generations must be a whole number >= 0 (0: no cap)")
        if self.run_generations and not self.restarts:
            raise NasError("cmaes run_generations caps a run before a restart: it needs restarts")

    @staticmethod
    def suggest(trial, sigma: float) -> dict:
        """CMA-ES's part of the pure search space (`sigma`, drawn for every algorithm
        before this, is the initial step size)."""
        return {"sigma": sigma,
                "separable": trial.suggest_categorical("cmaes_separable", [False, True]),
                "biases": trial.suggest_categorical("cmaes_biases", [True, False]),
                "run_generations": trial.suggest_categorical("cmaes_run_generations", RUN_CAPS)}

    @staticmethod
    def population(trial, given: int, shapes: Sequence[tuple[str, tuple]], chosen: dict) -> int:
        """The population a trial runs: -p (`given`) or CMA-ES's default for the number of
        parameters it searches (a searched choice, `cmaes_population`)."""
        if trial.suggest_categorical("cmaes_population", ["given", "default"]) == "given":
            return given
        return default_population(int(np.count_nonzero(searched_mask(shapes, chosen["biases"]))))


def searched_mask(shapes: Sequence[tuple[str, tuple]], biases: bool) -> np.ndarray:
    """[n_params] bool: the genome entries CMA-ES searches (all, or all but the biases;
    `shapes` as nas.evolution.layout.layer_shapes gives them, biases named b, b0, b1...)."""
    parts = [np.full(math.prod(shape), biases or not name.startswith("b"))
             for name, shape in shapes]
    return np.concatenate(parts) if parts else np.zeros(0, bool)


@dataclass(frozen=True)
class CMAESState:
    population: torch.Tensor  # [size, n_params] float32: the genomes asked
    distribution: dict[str, Any]  # the cmaes object's __getstate__ (numpy arrays, numbers)
    generation: int = 0
    best: float = -math.inf  # the best fitness since the last (re)start
    stall: int = 0  # generations since `best` last rose
    restarts: int = 0


def _distribution_class(separable: bool) -> type:
    """cmaes.SepCMA or cmaes.CMA, imported only once a run uses CMA-ES: the package's
    __init__ imports scipy.stats (about a second of every worker's start), which no other
    algorithm needs."""
    from cmaes import CMA, SepCMA

    return SepCMA if separable else CMA


class CMAES(TensorAlgorithm[CMAESState]):
    min_population = 2  # cmaes needs mu = size // 2 >= 1
    keeps_best = False  # no elite: the best genome is not carried into the next population

    def __init__(self, n_params: int, population: int, params: CMAESParams,
                 dtype=torch.float32, searched: np.ndarray | None = None):
        super().__init__(n_params, population, params, dtype)
        self.searched = np.ones(n_params, bool) if searched is None else np.asarray(searched, bool)
        if self.searched.shape != (n_params,) or not self.searched.any():
            raise NasError("cmaes needs a mask of the n_params genome entries with one searched")
        self.dim = int(self.searched.sum())
        self._cls = _distribution_class(params.separable or self.dim > FULL_MAX_DIM)
        self.stall_limit = 100 + math.ceil(100 * self.dim ** 1.5 / population)

    @classmethod
    def for_network(cls, spec, population: int, params: CMAESParams) -> "CMAES":
        return cls(spec.n_params, population, params,
                   searched=searched_mask(spec.shapes(), params.biases))

    def init(self, generator: torch.Generator) -> CMAESState:
        return self._sample(self._fresh(np.zeros(self.dim)), generator, CMAESState(None, {}))

    def _fresh(self, mean: np.ndarray):
        cma = self._cls(mean=mean, sigma=self.params.sigma, population_size=self.size)
        cma._funhist_values[:] = 0  # np.empty there: garbage bits in the state (unread)
        return cma

    def _tell(self, state: CMAESState, fitness: torch.Tensor,
              generator: torch.Generator) -> CMAESState:
        genomes = state.population[:, torch.from_numpy(self.searched)].double().numpy()
        top = float(fitness.max())
        best, stall = (top, 0) if top > state.best else (state.best, state.stall + 1)
        if not np.all(np.abs(genomes) < _GENOME_MAX):  # diverged (inf and NaN included)
            if not self.params.restarts:  # the run is over: the same genomes again
                return replace(state, best=best, stall=stall)
            return self._restart(state, generator)
        # cmaes minimizes and sorts by value: NaN must become the worst (+inf), not a value
        # that sorts anywhere
        values = (-fitness.double().nan_to_num(nan=-math.inf)).tolist()
        cma = self._cls.__new__(self._cls)
        cma.__setstate__(copy.deepcopy(state.distribution))
        with one_blas_thread():
            cma.tell([(genomes[i], values[i]) for i in range(self.size)])
            stop = self.params.restarts and cma.should_stop()
        capped = 0 < self.params.run_generations <= cma.generation
        if stop or capped or (self.params.restarts and stall >= self.stall_limit):
            return self._restart(state, generator)
        return self._sample(cma, generator, replace(state, best=best, stall=stall))

    def _restart(self, state: CMAESState, generator: torch.Generator) -> CMAESState:
        """A fresh distribution: mean N(0, sigma^2 I) from the generator, the initial sigma."""
        mean = torch.randn(self.dim, generator=generator, dtype=torch.float64)
        return self._sample(self._fresh(mean.numpy() * self.params.sigma), generator,
                            replace(state, best=-math.inf, stall=0, restarts=state.restarts + 1))

    def _sample(self, cma, generator: torch.Generator, state: CMAESState) -> CMAESState:
        """The state after `state` (its counters kept) with the genomes `cma` draws."""
        cma.reseed_rng(int(torch.randint(0, _SEED_SPAN, (1,), generator=generator)))
        with one_blas_thread():
            drawn = np.stack([cma.ask() for _ in range(self.size)])
        population = torch.zeros(self.size, self.n_params, dtype=self.dtype)
        population[:, torch.from_numpy(self.searched)] = torch.from_numpy(drawn).to(self.dtype)
        return replace(state, population=population, distribution=cma.__getstate__())
