"""CMA-ES in pure mode (nas.evolution.algorithms.cmaes): the `cmaes` package's update,
negated for nas's maximized fitness, seeded from each seed's generator."""
import os

import numpy as np
import pytest
import torch

from nas.errors import NasError
from nas.evolution import run_evolution
from nas.evolution.algorithms.cmaes import CMAES, CMAESParams, default_population, searched_mask
from nas.evolution.layout import layer_shapes


def sphere_run(params: CMAESParams, generations: int, seed: int = 0, dim: int = 6) -> float:
    """Best -||x - 1||^2 after `generations` (maximized, as nas does)."""
    algo, gen = CMAES(dim, 12, params), torch.Generator().manual_seed(seed)
    state, best = algo.init(gen), -np.inf
    for _ in range(generations):
        fitness = -((algo.ask(state).double() - 1) ** 2).sum(1)
        best = max(best, float(fitness.max()))
        state = algo.tell(state, fitness, gen)
    return best


@pytest.mark.parametrize("separable", [False, True])
def test_it_maximizes_fitness(separable):
    """nas maximizes, cmaes minimizes: a run that climbs the negated sphere finds its top."""
    assert sphere_run(CMAESParams(sigma=0.5, separable=separable), 80) > -1e-4
    assert sphere_run(CMAESParams(sigma=0.5, separable=separable), 1) < -0.5


def test_nan_fitness_ranks_worst():
    """A NaN genome counts as the worst: the mean moves toward the good genomes."""
    algo, gen = CMAES(2, 10, CMAESParams(sigma=1.0)), torch.Generator().manual_seed(0)
    state = algo.init(gen)
    x = algo.ask(state)
    fitness = x[:, 0].double().clone()
    fitness[x[:, 0] > 0] = float("nan")  # the positive side is NaN: it must look worst
    nxt = algo.tell(state, fitness, gen)
    assert float(nxt.distribution["_mean"][0]) < 0


def test_the_state_is_not_changed_in_place_and_draws_only_from_the_generator():
    algo = CMAES(5, 8, CMAESParams(sigma=0.3))
    state = algo.init(torch.Generator().manual_seed(1))
    mean = state.distribution["_mean"].copy()
    fitness = torch.arange(8, dtype=torch.float64)
    a = algo.tell(state, fitness, torch.Generator().manual_seed(2))
    b = algo.tell(state, fitness, torch.Generator().manual_seed(2))
    c = algo.tell(state, fitness, torch.Generator().manual_seed(3))
    assert np.array_equal(state.distribution["_mean"], mean)
    assert torch.equal(a.population, b.population) and not torch.equal(a.population, c.population)
    assert a.population.dtype == torch.float32 and a.generation == 1


def test_bias_free_genomes_hold_every_bias_at_zero():
    shapes = layer_shapes(7, 1, [4], "elman")
    mask = searched_mask(shapes, biases=False)
    weights = 7 * 4 + 4 * 4 + 4 * 1
    assert mask.sum() == weights and len(mask) == weights + 4 + 1
    algo = CMAES(len(mask), 6, CMAESParams(biases=False), searched=mask)
    gen = torch.Generator().manual_seed(0)
    state = algo.tell(algo.init(gen), torch.rand(6, dtype=torch.float64), gen)
    assert algo.dim == weights
    assert bool((state.population[:, torch.from_numpy(~mask)] == 0).all())
    assert bool((state.population[:, torch.from_numpy(mask)] != 0).all())


def test_large_distributions_are_separable_whatever_the_choice():
    """The package's full CMA is O(n^3) per genome drawn: above FULL_MAX_DIM, SepCMA."""
    from cmaes import CMA, SepCMA

    from nas.evolution.algorithms.cmaes import FULL_MAX_DIM

    assert CMAES(FULL_MAX_DIM, 4, CMAESParams())._cls is CMA
    assert CMAES(FULL_MAX_DIM + 1, 4, CMAESParams())._cls is SepCMA
    assert CMAES(5, 4, CMAESParams(separable=True))._cls is SepCMA


def test_the_space_gives_cmaes_its_default_population_when_chosen():
    import optuna

    from nas.spec import StudySpec
    from nas.worker.space import SPACES

    params = {"recurrence": "none", "hidden_layers": 0, "activation": "tanh",
              "algorithm": "cmaes", "sigma": 0.3, "cmaes_separable": False}
    spec = StudySpec(task="double-pole", population=50)
    for biases, population, expected in [(True, "given", 50), (True, "default", default_population(8)),
                                         (False, "default", default_population(7))]:
        trial = optuna.trial.FixedTrial({**params, "cmaes_biases": biases,
                                         "cmaes_population": population})
        config = SPACES["pure"](trial, spec)
        assert config["population"] == expected
        assert config["algorithm_params"] == {"sigma": 0.3, "separable": False, "biases": biases}


def test_default_population_is_hansens():
    assert default_population(10) == 4 + int(3 * np.log(10))
    assert default_population(1) == 4


@pytest.mark.parametrize("bad", [{"sigma": 0}, {"sigma": -1.0}, {"sigma": float("nan")}])
def test_bad_params(bad):
    with pytest.raises(NasError, match="sigma"):
        CMAESParams(**bad)


CONFIG = {"task": "double-pole", "population": 12, "hidden": [], "algorithm": "cmaes",
          "algorithm_params": {"sigma": 0.3, "biases": False}}


def test_a_seed_alone_equals_the_same_seed_beside_others():
    alone = run_evolution(CONFIG, 8, seeds=[4], stop_when_solved=False)
    batched = run_evolution(CONFIG, 8, seeds=[1, 4, 7], stop_when_solved=False)
    assert repr(alone.seeds[0].curve_best) == repr(batched.seeds[1].curve_best)
    assert alone.seeds[0].best_genome == batched.seeds[1].best_genome
    assert batched.seeds[0].curve_best != batched.seeds[1].curve_best


def test_kernel_and_torch_engines_agree_on_cmaes_genomes():
    kernel = run_evolution(CONFIG, 5, seeds=[0, 1], stop_when_solved=False, engine="kernel")
    torch_path = run_evolution(CONFIG, 5, seeds=[0, 1], stop_when_solved=False, engine="torch")
    assert [s.curve_best for s in kernel.seeds] == [s.curve_best for s in torch_path.seeds]


def test_it_solves_double_pole_with_velocities_bias_free():
    result = run_evolution(CONFIG, 150, seeds=[0, 1])
    assert all(s.solved_evaluations is not None for s in result.seeds)
    genome = result.seeds[0].best_genome
    assert genome["params"][-1] == 0.0  # the output bias, held at zero


def test_the_same_bits_whatever_numpys_blas_threads():
    """A large network's update is BLAS work: held at one thread, so a process whose numpy
    runs more (a script, this test) gives what a worker (one BLAS thread) gives."""
    from nas.evolution.algorithms.cmaes import _openblas

    lib = _openblas()
    if lib is None or (os.cpu_count() or 1) < 2:
        pytest.skip("needs numpy's bundled OpenBLAS and two cores")
    config = {**CONFIG, "hidden": [16, 8], "population": 10,  # 273 params: full CMA
              "algorithm_params": {"sigma": 0.3}}
    before, runs = lib[0](), []
    try:
        for threads in (1, 2):
            lib[1](threads)
            runs.append(run_evolution(config, 3, seeds=[0], stop_when_solved=False).seeds[0])
    finally:
        lib[1](before)
    assert repr(runs[0].curve_mean) == repr(runs[1].curve_mean)
    assert runs[0].best_genome == runs[1].best_genome
