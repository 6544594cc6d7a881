"""CMA-ES in pure mode (nas.evolution.algorithms.cmaes): the `cmaes` package's update,
negated for nas's maximized fitness, seeded from each seed's generator."""
import math
import os
from dataclasses import replace

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
              "algorithm": "cmaes", "sigma": 0.3, "cmaes_separable": False,
              "cmaes_run_generations": 50}
    spec = StudySpec(task="double-pole", population=50)
    for biases, population, expected in [(True, "given", 50), (True, "default", default_population(8)),
                                         (False, "default", default_population(7))]:
        trial = optuna.trial.FixedTrial({**params, "cmaes_biases": biases,
                                         "cmaes_population": population})
        config = SPACES["pure"](trial, spec)
        assert config["population"] == expected
        assert config["algorithm_params"] == {"sigma": 0.3, "separable": False, "biases": biases,
                                              "run_generations": 50}


def test_default_population_is_hansens():
    assert default_population(10) == 4 + int(3 * np.log(10))
    assert default_population(1) == 4


@pytest.mark.parametrize("bad", [{"sigma": 0}, {"sigma": -1.0}, {"sigma": float("nan")},
                                 {"run_generations": -1}, {"run_generations": 2.5},
                                 {"run_generations": 10, "restarts": False}])
def test_bad_params(bad):
    with pytest.raises(NasError, match="sigma" if "sigma" in bad else "run_generations"):
        CMAESParams(**bad)


def test_narrowing_fixes_the_run_cap_like_any_categorical():
    import optuna

    from nas.spec import StudySpec
    from nas.worker.narrow import Narrowed
    from nas.worker.space import SPACES

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    spec = StudySpec(task="double-pole", population=16)
    caps = set()
    for _ in range(8):
        trial = study.ask()
        config = SPACES["pure"](Narrowed(trial, {"algorithm": "cmaes"},
                                         {"cmaes_run_generations": "25,50"}), spec)
        caps.add(config["algorithm_params"]["run_generations"])
        assert trial.params["cmaes_run_generations"] in (25, 50)
    assert caps == {25, 50}


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
    from threadpoolctl import threadpool_limits

    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs two cores")
    config = {**CONFIG, "hidden": [16, 8], "population": 10,  # 273 params: full CMA
              "algorithm_params": {"sigma": 0.3}}
    runs = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            runs.append(run_evolution(config, 3, seeds=[0], stop_when_solved=False).seeds[0])
    assert repr(runs[0].curve_mean) == repr(runs[1].curve_mean)
    assert runs[0].best_genome == runs[1].best_genome


def test_the_blas_hold_is_one_thread_inside_and_as_before_after():
    from threadpoolctl import threadpool_info, threadpool_limits

    from nas.evolution.algorithms.cmaes import one_blas_thread

    blas = lambda: {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
    if not blas():
        pytest.skip("numpy without a BLAS threadpoolctl knows")
    with threadpool_limits(limits=2, user_api="blas"):
        with one_blas_thread():
            assert blas() == {1}
        assert blas() == {2}


def restarts_run(params: CMAESParams, fitness_of, generations: int, dim: int = 4, size: int = 8):
    """The states of a run told `fitness_of(generation, genomes)` for `generations`."""
    algo, gen = CMAES(dim, size, params), torch.Generator().manual_seed(0)
    states = [algo.init(gen)]
    for g in range(generations):
        states.append(algo.tell(states[-1], fitness_of(g, algo.ask(states[-1])), gen))
    return algo, states


def test_a_converged_run_restarts_from_a_fresh_mean_with_the_initial_sigma():
    """Flat fitness: the package's should_stop (tolfun over 10 + 30n/size generations)
    fires, and the run starts again elsewhere; without restarts it stays."""
    flat = lambda g, x: torch.zeros(len(x), dtype=torch.float64)
    algo, on = restarts_run(CMAESParams(sigma=0.5), flat, 60)
    _, off = restarts_run(CMAESParams(sigma=0.5, restarts=False), flat, 60)
    first = next(i for i, s in enumerate(on) if s.restarts)
    assert 10 < first < 40 and on[-1].restarts >= 2 and off[-1].restarts == 0
    before, after = on[first - 1].distribution, on[first].distribution
    assert not np.allclose(after["_mean"], before["_mean"]) and after["_sigma"] == 0.5
    assert after["_g"] == 0 and before["_g"] == first - 1 and on[first].stall == 0
    assert not torch.equal(on[first].population, off[first].population)
    assert all(torch.equal(a.population, b.population) for a, b in zip(on[:first], off[:first]))


def test_a_run_whose_best_stops_rising_restarts_after_the_stall_limit():
    """Fitness that varies (should_stop's flat-fitness test never fires) but whose best
    never beats generation 0's: a restart after stall_limit generations."""
    noisy = lambda g, x: torch.rand(len(x), generator=torch.Generator().manual_seed(g),
                                    dtype=torch.float64) + (100.0 if g == 0 else 0.0)
    algo, states = restarts_run(CMAESParams(sigma=0.5), noisy, 150, dim=2)
    assert algo.stall_limit == 100 + math.ceil(100 * 2 ** 1.5 / 8)
    restarted = [i for i in range(1, len(states)) if states[i].restarts > states[i - 1].restarts]
    assert restarted == [algo.stall_limit + 1]
    assert states[algo.stall_limit].stall == algo.stall_limit - 1


@pytest.mark.parametrize("separable", [False, True])
def test_a_diverging_run_without_restarts_ends_where_it_is_instead_of_raising(separable):
    """Linear fitness drives the mean and sigma up until a genome reaches the package's
    1e32 (its AssertionError in tell, some 200 generations in): from there the run asks
    the same genomes again, its distribution unchanged, and never restarts."""
    params = CMAESParams(sigma=0.5, restarts=False, separable=separable)
    algo, states = restarts_run(params, lambda g, x: x.double().sum(1), 400)
    over = next(i for i, s in enumerate(states) if not bool((s.population.abs() < 1e32).all()))
    assert 50 < over < 390 and states[-1].restarts == 0 and states[-1].generation == 400
    assert all(torch.equal(s.population, states[over].population) for s in states[over:])
    assert repr(states[-1].distribution) == repr(states[over].distribution)


def test_a_diverged_run_with_restarts_restarts():
    algo = CMAES(4, 8, CMAESParams(sigma=0.5))
    gen = torch.Generator().manual_seed(0)
    state = algo.init(gen)
    population = state.population.clone()
    population[3, 1] = float("inf")
    nxt = algo.tell(replace(state, population=population), torch.arange(8.0), gen)
    assert nxt.restarts == 1 and nxt.distribution["_g"] == 0 and nxt.distribution["_sigma"] == 0.5
    assert bool(nxt.population.isfinite().all())


def test_a_run_capped_at_n_generations_restarts_every_n_even_while_it_improves():
    """run_generations: a run that keeps rising (no stall, no should_stop) still restarts
    after that many generations, counted from its own (re)start."""
    rising = lambda g, x: g + torch.rand(len(x), generator=torch.Generator().manual_seed(g),
                                        dtype=torch.float64)
    _, capped = restarts_run(CMAESParams(sigma=0.5, run_generations=7), rising, 30)
    _, free = restarts_run(CMAESParams(sigma=0.5), rising, 30)
    restarted = [i for i in range(1, 31) if capped[i].restarts > capped[i - 1].restarts]
    assert restarted == [7, 14, 21, 28] and free[-1].restarts == 0
    assert capped[7].distribution["_g"] == 0 and capped[7].distribution["_sigma"] == 0.5


def test_nan_fitness_never_counts_as_an_improvement():
    algo, states = restarts_run(CMAESParams(sigma=0.5), lambda g, x: torch.full(
        (len(x),), float("nan") if g else 1.0, dtype=torch.float64), 5)
    assert [s.best for s in states[1:]] == [1.0] * 5 and states[-1].stall == 4


FLAT = {**CONFIG, "hidden": [], "algorithm_params": {"sigma": 1e-6}}  # 23 steps, every genome


def final_states(config, generations, seeds, resume=None, stop_at=None):
    """The algorithm states of run_evolution's seeds after `generations` (read from a
    checkpoint), or the checkpoint after `stop_at`."""
    from nas.evolution.checkpoint import HEADER, restore

    out = {}

    def grab(g, so):
        if g in (generations - 1, stop_at):
            out[g] = so.checkpoint()
            if g == stop_at:
                raise KeyboardInterrupt

    try:
        run_evolution(config, generations, seeds=seeds, stop_when_solved=False,
                      on_generation=grab, resume=resume)
    except KeyboardInterrupt:
        return out[stop_at]
    blob = out[generations - 1]
    return [s["state"] for s in restore(blob, HEADER.unpack_from(blob)[3], len(seeds))[1]]


def same_state(a, b) -> bool:
    return (torch.equal(a.population, b.population) and repr(a.distribution) == repr(b.distribution)
            and (a.generation, a.best, a.stall, a.restarts) == (b.generation, b.best, b.stall, b.restarts))


CAPPED = {**CONFIG, "algorithm_params": {"sigma": 0.3, "biases": False, "run_generations": 9}}


@pytest.mark.parametrize("config", [FLAT, CAPPED], ids=["should_stop", "run_generations"])
def test_restarts_give_a_seed_the_same_bits_alone_or_beside_others(config):
    alone = final_states(config, 40, [4])
    batched = final_states(config, 40, [1, 4, 7])
    assert alone[0].restarts >= 1 and same_state(alone[0], batched[1])
    assert not same_state(batched[0], batched[1])


@pytest.mark.parametrize("config", [FLAT, CAPPED], ids=["should_stop", "run_generations"])
def test_a_run_resumed_after_a_restart_equals_the_uninterrupted_run(config):
    full = final_states(config, 40, [0, 1])
    blob = final_states(config, 40, [0, 1], stop_at=32)
    resumed = final_states(config, 40, [0, 1], resume=blob)
    from nas.evolution.checkpoint import HEADER, restore

    at_stop = restore(blob, HEADER.unpack_from(blob)[3], 2)[1]
    assert all(s["state"].restarts >= 1 for s in at_stop)  # checkpointed after a restart
    assert all(same_state(a, b) for a, b in zip(full, resumed))


def test_the_solved_genome_is_the_one_that_passed_the_champion_test():
    """Without velocities the fittest genome of a run need not be the one that passed the
    625-start test; a seed keeps the genome that solved it, and that genome passes."""
    from nas.evolution.evaluators import kernel_evaluator
    from nas.evolution.modes import stored_mode
    from nas.evolution.tasks import get_task

    config = {"task": "double-pole-nv", "mode": "pure", "recurrent": "full", "population": 16,
              "hidden": [2], "activation": "tanh", "algorithm": "cmaes",
              "algorithm_params": {"sigma": 1.0, "biases": False, "run_generations": 100}}
    result = run_evolution(config, 400, [3])
    seed = result.seeds[0]
    assert seed.solved_evaluations is not None and seed.solved_genome is not None
    task = get_task("double-pole-nv")
    mode, genomes = stored_mode(seed.solved_genome)
    assert kernel_evaluator(task, mode).champion_solved(genomes, 0)


def test_a_seed_keeps_the_first_solver_not_the_fittest_genome():
    """Where the fittest genome of a generation is not the first that solved, the seed's
    solved genome and its evaluation count are the first solver's."""
    from nas.evolution.config import EvolutionConfig
    from nas.evolution.modes import MODES
    from nas.evolution.run import _SeedRun
    from nas.evolution.tasks import get_task

    cfg = EvolutionConfig.from_dict({"task": "double-pole", "mode": "pure", "population": 4,
                                     "algorithm": "cmaes"})
    run = _SeedRun(0, MODES["pure"](cfg, get_task("double-pole")))
    genomes = run.algorithm.ask(run.state)
    fitness = torch.tensor([1.0, 9.0, 3.0, 2.0], dtype=torch.float64)
    solved = torch.tensor([False, False, True, True])
    run.result.evaluations = 40  # ten generations of 4 before this one
    run.record(10, genomes, fitness, solved, None, True)
    kept = torch.tensor(run.result.solved_genome["params"])
    assert torch.equal(kept, genomes[2]) and not torch.equal(kept, genomes[1])
    assert run.result.solved_evaluations == 43 and run.result.solved_generation == 10
    assert torch.equal(torch.tensor(run.result.best_genome["params"]), genomes[1])


def test_only_a_cmaes_run_imports_the_cmaes_package():
    """The package's __init__ imports scipy.stats, about a second of a worker's start: a GA
    run (and the worker's own modules) must not load it, a CMA-ES run does."""
    import subprocess
    import sys

    check = ("import sys\n"
             "import nas.cli.worker, nas.worker.objective, nas.evolution.checkpoint\n"
             "from nas.evolution import run_evolution\n"
             "def run(algorithm):\n"
             "    run_evolution({'task': 'cartpole', 'population': 4, 'hidden': [2],\n"
             "                   'algorithm': algorithm}, 1, 1)\n"
             "run('ga')\n"
             "print(sorted(m for m in ('cmaes', 'scipy.stats') if m in sys.modules))\n"
             "run('cmaes')\n"
             "print(sorted(m for m in ('cmaes', 'scipy.stats') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split("\n")
    assert out[:2] == ["[]", "['cmaes', 'scipy.stats']"]
