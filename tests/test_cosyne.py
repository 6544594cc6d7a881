"""CoSyNE: per-weight subpopulations with permutation, as in Gomez et al. 2008."""
import pytest
import torch

from nas.errors import NasError
from nas.evolution import run_evolution
from nas.evolution.algorithms.cosyne import CoSyNE, CoSyNEParams


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_permutation_only_shuffles_within_columns_and_keeps_unmarked_entries():
    algo = CoSyNE(6, 20, CoSyNEParams())
    rows = torch.randn(15, 6, generator=gen(0))
    fit = torch.linspace(10, 0, 15)  # row 0 best: never marked (prob 0), last row always
    out = algo._permute(rows, fit, gen(1))
    for j in range(6):
        assert sorted(out[:, j].tolist()) == sorted(rows[:, j].tolist())
    torch.testing.assert_close(out[0], rows[0])  # the best network stays whole
    assert not torch.equal(out, rows)


def test_tell_replaces_the_worst_with_offspring_and_depends_on_the_generator():
    # Size, shape and "same generator, same result" are test_contracts.py's, for every algorithm.
    algo = CoSyNE(5, 16, CoSyNEParams(elite_fraction=0.25))
    state = algo.init(gen(0))
    fitness = torch.arange(16, dtype=torch.float64)
    a = algo.tell(state, fitness, gen(3))
    c = algo.tell(state, fitness, gen(4))
    assert algo.n_elite == 4
    assert not torch.equal(a.population, c.population)
    # the best network (fitness 15) survives as row 0: permutation probability 0
    torch.testing.assert_close(a.population[0], state.population[15])


def test_nan_fitness_ranks_worst():
    algo = CoSyNE(3, 8, CoSyNEParams())
    state = algo.init(gen(0))
    fitness = torch.tensor([float("nan")] + [1.0] * 6 + [5.0], dtype=torch.float64)
    nxt = algo.tell(state, fitness, gen(1))
    torch.testing.assert_close(nxt.population[0], state.population[7])


def test_it_optimizes_a_batched_function():
    target = 3.0
    for seed in range(3):
        algo = CoSyNE(10, 40, CoSyNEParams(sigma=0.3))
        state, g = algo.init(gen(seed)), gen(seed + 100)
        first = None
        for _ in range(100):
            pop = algo.ask(state)
            fitness = -((pop - target) ** 2).sum(1).double()
            first = fitness.max().item() if first is None else first
            state = algo.tell(state, fitness, g)
        best = (-((algo.ask(state) - target) ** 2).sum(1)).max().item()
        assert best > first / 20 and best > -1.0


def test_cosyne_runs_in_run_evolution_and_solves_cartpole():
    result = run_evolution({"population": 40, "algorithm": "cosyne", "hidden": [],
                            "algorithm_params": {"sigma": 0.5}}, generations=30, seeds=[0, 1])
    assert all(s.solved_generation is not None for s in result.seeds)


@pytest.mark.parametrize("bad", [{"elite_fraction": 0.9}, {"sigma": 0}, {"noise": "uniform"},
                                 {"permute": "some"}])
def test_bad_params(bad):
    with pytest.raises(NasError):
        CoSyNEParams(**bad)


def test_uniform_init_range_as_gomez_wtrange():
    state = CoSyNE(45, 40, CoSyNEParams(init_range=10.0)).init(gen(0))
    pop = state.population
    assert pop.abs().max() <= 10.0 and pop.min() < -8 and pop.max() > 8  # uniform, not normal


def test_burst_mutation_recentres_a_stalled_population_on_the_best():
    algo = CoSyNE(6, 20, CoSyNEParams(burst_after=3, burst_sigma=0.05))
    state = algo.init(gen(0))
    best = state.population[7].clone()
    fitness = torch.zeros(20, dtype=torch.float64)
    fitness[7] = 1.0
    state = algo.tell(state, fitness, gen(1))  # a new best: no stagnation yet
    torch.testing.assert_close(state.best, best)
    for g in range(3):  # three generations with nothing better
        before = state.population
        state = algo.tell(state, torch.zeros(20, dtype=torch.float64), gen(2 + g))
    assert state.stagnant == 0  # the burst reset the count
    torch.testing.assert_close(state.population[0], best)  # the best kept whole
    spread = (state.population[1:] - best).abs()
    assert spread.median() < 0.2 and not torch.equal(state.population, before)
    # without burst_after the same run never recentres
    plain = CoSyNE(6, 20, CoSyNEParams())
    s = plain.init(gen(0))
    for g in range(4):
        s = plain.tell(s, fitness if g == 0 else torch.zeros(20, dtype=torch.float64), gen(1 + g))
    assert (s.population[1:] - best).abs().median() > 0.2


def test_bad_burst_params_are_refused():
    with pytest.raises(NasError, match="burst_sigma"):
        CoSyNEParams(burst_sigma=0)
    with pytest.raises(NasError, match="init_range"):
        CoSyNEParams(init_range=-1)
