"""Contract tests: one suite written against the `Algorithm` protocol and the `Task` base
class, run over every registered algorithm and every registered task (as Optuna runs one
storage suite over every storage). A new algorithm or task joins the registry and is
checked here without a test of its own; per-class files keep only what is particular.

Every test stays small: populations of 8, tiny networks, and task episodes driven by a
policy that gives up (a large constant output) after a few steps, so that even
double-pole's 100,000-step episodes end at once.
"""
import dataclasses
import math

import pytest
import numpy as np
import torch

from nas.errors import NasError
from nas.evolution.algorithms import ALGORITHMS, Algorithm
from nas.evolution.neat import NEAT, Genome, NEATParams, genome_to_dict
from nas.evolution.networks import BatchedNetwork, NetworkSpec
from nas.evolution.tasks import TASKS, Task

SIZE, N_PARAMS = 8, 5


def gen(seed):
    return torch.Generator().manual_seed(seed)


def make_algorithm(name):
    """Each algorithm with its default hyperparameters, as a config without overrides."""
    if name == "neat":
        return NEAT(3, 2, SIZE, NEATParams())
    algo_cls, params_cls = ALGORITHMS[name]
    return algo_cls(N_PARAMS, SIZE, params_cls())


def plain(x):
    """Comparable plain data for states and genome batches (tensors, genomes, dataclasses)."""
    if isinstance(x, torch.Tensor):
        return str(x.dtype), list(x.shape), x.tolist()
    if isinstance(x, Genome):
        return genome_to_dict(x)
    if dataclasses.is_dataclass(x):
        return {f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, dict):  # e.g. CMA-ES's distribution: the cmaes object's own state
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (np.ndarray, np.generic)):
        return str(x.dtype), list(np.shape(x)), np.asarray(x).tolist()
    return x


def run(algo, seed, tells=3):
    """init, then `tells` rounds of ask / tell with fitness drawn from the same generator."""
    g = gen(seed)
    state = algo.init(g)
    for _ in range(tells):
        algo.ask(state)
        state = algo.tell(state, torch.rand(algo.size, generator=g, dtype=torch.float64), g)
    return state


ALGORITHM_NAMES = [*ALGORITHMS, "neat"]
algorithms = pytest.mark.parametrize("name", ALGORITHM_NAMES)


@algorithms
def test_algorithm_init_ask_tell_keep_the_population_size(name):
    algo = make_algorithm(name)
    assert isinstance(algo, Algorithm) and algo.size == SIZE
    state = algo.init(gen(0))
    genomes = algo.ask(state)
    assert len(genomes) == SIZE and state.generation == 0
    if isinstance(genomes, torch.Tensor):  # GA, CoSyNE: one row per genome
        assert genomes.shape == (SIZE, N_PARAMS) and genomes.dtype.is_floating_point
    else:  # NEAT: a list of graphs
        assert all(isinstance(g, Genome) for g in genomes)
    nxt = algo.tell(state, torch.rand(SIZE, generator=gen(1), dtype=torch.float64), gen(2))
    after = algo.ask(nxt)
    assert len(after) == SIZE and nxt.generation == 1
    if isinstance(genomes, torch.Tensor):
        assert after.shape == genomes.shape and after.dtype == genomes.dtype


@algorithms
def test_algorithm_same_seed_same_asks_after_several_tells(name):
    algo = make_algorithm(name)
    first = plain(algo.ask(run(algo, 0)))
    assert plain(algo.ask(run(make_algorithm(name), 0))) == first
    assert plain(algo.ask(run(algo, 1))) != first


@algorithms
def test_algorithm_nan_fitness_ranks_worst(name):
    """NaN sits where the best would be. Every registered algorithm keeps its best genome
    unchanged by default, and GA's and NEAT's single elite would be a NaN genome were NaN
    ranked high; test_cosyne pins CoSyNE's ranking (the best finite row comes first)."""
    algo = make_algorithm(name)
    state = algo.init(gen(0))
    fitness = torch.arange(SIZE, dtype=torch.float64)
    fitness[[0, SIZE - 1]] = math.nan
    before = plain(algo.ask(state))
    nxt = algo.tell(state, fitness, gen(1))
    after = algo.ask(nxt)
    if not getattr(algo, "keeps_best", True):  # no elite (CMA-ES): NaN is told as -inf
        worst = fitness.nan_to_num(nan=-math.inf)
        assert plain(nxt) == plain(algo.tell(state, worst, gen(1)))
        assert plain(nxt) != plain(algo.tell(state, fitness.nan_to_num(nan=math.inf), gen(1)))
        return
    assert len(after) == SIZE
    if isinstance(after, torch.Tensor):
        assert bool(torch.isfinite(after).all())
        rows = after.tolist()
        assert before[2][SIZE - 2] in rows
    else:
        assert all(math.isfinite(c.weight) for g in after for c in g.connections.values())
        assert before[SIZE - 2] in plain(after)


@algorithms
def test_algorithm_tell_leaves_the_old_state_as_it_was(name):
    """State is data: `tell` returns a new state, so an old one can be told again alike."""
    algo = make_algorithm(name)
    state = run(algo, 0, tells=1)
    snapshot = plain(state)
    fitness = torch.rand(SIZE, generator=gen(3), dtype=torch.float64)
    a = algo.tell(state, fitness, gen(4))
    assert plain(state) == snapshot
    assert plain(algo.tell(state, fitness, gen(4))) == plain(a)
    assert dataclasses.is_dataclass(state)
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.generation = 99


@algorithms
def test_algorithm_rejects_fitness_of_the_wrong_length(name):
    algo = make_algorithm(name)
    with pytest.raises(NasError, match=str(SIZE)):
        algo.tell(algo.init(gen(0)), torch.zeros(SIZE + 1, dtype=torch.float64), gen(1))


# ---------------------------------------------------------------------------------------------
GIVE_UP = (0, 1, 4, 9, 25, 60, 130)  # per row: the step from which the policy pushes flat out


class GivesUp:
    """A random small Elman network per row that, from its row's `give_up` step on, outputs a
    large constant (full force one way): each episode ends soon, each row at its own step,
    so rows leave the batch mid-episode in a known way."""

    def __init__(self, task, params, give_up):
        spec = NetworkSpec(task.obs_size, task.act_size, (3,), "tanh", "elman")
        self.net = BatchedNetwork(spec, params)
        self.give_up, self.t = torch.as_tensor(give_up), 0

    @staticmethod
    def params(task, n, seed=0):
        spec = NetworkSpec(task.obs_size, task.act_size, (3,), "tanh", "elman")
        return torch.randn(n, spec.n_params, generator=gen(seed))

    def __call__(self, obs):
        out = self.net(obs)
        push = (self.t >= self.give_up).unsqueeze(1)
        self.t += 1
        return torch.where(push, torch.full_like(out, 50.0), out)

    def keep(self, rows):
        self.net.keep(rows)
        self.give_up = self.give_up[rows]


class Constant:
    """Every row outputs 50 (full force one way) at every step: fails at once."""

    def __call__(self, obs):
        return torch.full((len(obs), 1), 50.0)

    def keep(self, rows):
        pass


tasks = pytest.mark.parametrize("name", list(TASKS))


@tasks
def test_task_states_observations_and_steps_have_the_declared_shapes(name):
    task, n = TASKS[name](), 5
    assert isinstance(task, Task) and task.name == name
    states = task.initial_states(gen(0), n)
    assert states.shape == (n, task.state_size) and states.dtype == task.dtype
    obs = task.observe(states)
    assert obs.shape == (n, task.obs_size) and bool(torch.isfinite(obs).all())
    before = states.clone()
    nxt, failed = task.step(states, torch.zeros(n, task.act_size))  # float32, as networks give
    assert torch.equal(states, before)  # the caller's state is not changed in place
    assert nxt.shape == (n, task.state_size) and nxt.dtype == task.dtype
    assert failed.shape == (n,) and failed.dtype == torch.bool


@tasks
def test_task_is_deterministic_for_a_fixed_generator(name):
    task, n = TASKS[name](), len(GIVE_UP)
    a, b = task.initial_states(gen(3), n), task.initial_states(gen(3), n)
    assert torch.equal(a, b)
    params = GivesUp.params(task, n)
    first = task.evaluate(GivesUp(task, params, GIVE_UP), a)
    assert torch.equal(first, task.evaluate(GivesUp(task, params, GIVE_UP), b))


@tasks
def test_task_batch_scores_each_row_as_if_alone_and_within_its_range(name):
    """Rows drop out of the batch at different steps; the others' episodes must not notice."""
    task, n = TASKS[name](), len(GIVE_UP)
    starts, params = task.initial_states(gen(1), n), GivesUp.params(task, n, seed=2)
    together = task.evaluate(GivesUp(task, params, GIVE_UP), starts)
    alone = torch.cat([task.evaluate(GivesUp(task, params[i:i + 1], GIVE_UP[i:i + 1]),
                                     starts[i:i + 1]) for i in range(n)])
    assert together.shape == (n,) and together.dtype.is_floating_point
    torch.testing.assert_close(together, alone, rtol=1e-12, atol=0)
    low, high = task.fitness_range
    assert bool(((together >= low) & (together <= high)).all()), together
    assert len(set(together.tolist())) > 1  # the rows did end at different steps


@tasks
def test_task_solved_is_a_bool_mask_true_at_the_top_of_the_range_only(name):
    task = TASKS[name]()
    low, high = task.fitness_range
    fitness = torch.tensor([[low, high], [low, low]], dtype=torch.float64)
    mask = task.solved(fitness)
    assert mask.shape == fitness.shape and mask.dtype == torch.bool
    assert mask.tolist() == [[False, True], [False, False]]


@tasks
def test_task_flags_are_plain_class_attributes_and_champion_solved_follows_them(name):
    cls = TASKS[name]
    assert isinstance(cls.needs_memory, bool) and isinstance(cls.champion_test, bool)
    task = cls()
    if cls.champion_test:  # a policy that fails at once is no champion (and costs little)
        assert task.champion_solved(lambda k: Constant()) is False
    else:
        with pytest.raises(NotImplementedError, match="champion"):
            task.champion_solved(lambda k: Constant())


def test_only_the_velocity_free_task_needs_memory_and_a_champion_test():
    assert {n for n, t in TASKS.items() if t.needs_memory} == {"double-pole-nv", "double-pole-nv-gomez"}
    assert {n for n, t in TASKS.items() if t.champion_test} == {"double-pole-nv", "double-pole-nv-gomez"}
