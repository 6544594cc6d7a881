"""Checkpoints of run_evolution: a run stopped at generation k and resumed from its bytes
gives the uninterrupted run's result, bit for bit (GA, CoSyNE, CMA-ES, NEAT; kernel and torch
engines; built-in, user and gym: tasks); a checkpoint that does not fit is an error."""
import dataclasses
import pickle
import zlib

import numpy as np
import pytest
import torch

from nas.evolution import run_evolution
from nas.evolution.checkpoint import HEADER, CheckpointError, _pack_state, _unpack_state
from nas.evolution.kernels.engine import KernelEngine
from nas.evolution.modes import NeatMode, PureMode
from nas.evolution.tasks import double_pole

MOUNTAIN_CAR = "examples.mountain_car:MountainCar"
GA = {"population": 24, "hidden": [4],
      "algorithm_params": {"sigma": 0.3, "sigma_decay": 0.9, "crossover_rate": 0.2}}
COSYNE = {"population": 24, "hidden": [3], "algorithm": "cosyne",
          "algorithm_params": {"burst_after": 2}}
CMAES = {"population": 12, "hidden": [3], "algorithm": "cmaes", "algorithm_params": {"sigma": 0.5}}
SEP_CMAES = {**CMAES, "algorithm_params": {"sigma": 0.4, "separable": True, "biases": False}}
NEAT = {"mode": "neat", "population": 30,  # target_species: the threshold moves
        "algorithm_params": {"add_node_prob": 0.2, "add_connection_prob": 0.3, "target_species": 3}}
RECURRENT = {"recurrent": "elman"}
NEAT_RECURRENT = {"mode": "neat", "population": 30,
                  "algorithm_params": {"recurrent": True, "add_node_prob": 0.2}}


class Stop(Exception):
    pass


def without_seconds(result):
    return [dataclasses.replace(s, seconds=0.0) for s in result.seeds]


def halves(config, generations, k, **kwargs):
    """(uninterrupted result, its on_generation values; resumed result, the values both
    halves saw, the checkpoint) for a run stopped right after generation k."""
    seen = []
    full = run_evolution(config, generations, on_generation=lambda g, so: seen.append(
        (g, so.score("evaluations"), so.score("auc"))), **kwargs)
    blob, parts = None, []

    def stop_at_k(g, so):
        nonlocal blob
        parts.append((g, so.score("evaluations"), so.score("auc")))
        if g == k:
            blob = so.checkpoint()
            raise Stop

    with pytest.raises(Stop):
        run_evolution(config, generations, on_generation=stop_at_k, **kwargs)
    blob = pickle.loads(pickle.dumps(blob))  # through a store and back
    resumed = run_evolution(config, generations, resume=blob, on_generation=lambda g, so: parts.append(
        (g, so.score("evaluations"), so.score("auc"))), **kwargs)
    return full, seen, resumed, parts, blob


def assert_same_run(full, seen, resumed, parts):
    assert without_seconds(resumed) == without_seconds(full)
    assert (resumed.budget, resumed.target, resumed.generations) == \
        (full.budget, full.target, full.generations)
    assert parts == seen
    for a, b in zip(resumed.seeds, full.seeds):  # bit for bit, NaN and -0.0 included
        assert repr(a.curve_best) == repr(b.curve_best) and repr(a.curve_mean) == repr(b.curve_mean)


CASES = [  # (config, generations, checkpoint after, run_evolution keywords)
    ({**GA, "task": "cartpole"}, 6, 2, {"seeds": [0, 1], "stop_when_solved": False}),
    ({**GA, "task": "cartpole", "population": 60}, 12, 3, {"seeds": [0, 1, 2],
                                                          "stagnation_limit": 4}),
    ({**COSYNE, "task": "cartpole"}, 7, 3, {"seeds": [0, 1], "stop_when_solved": False}),
    ({**CMAES, "task": "cartpole"}, 6, 2, {"seeds": [0, 1], "stop_when_solved": False}),
    ({**SEP_CMAES, "task": "double-pole"}, 6, 3, {"seeds": [0, 1], "stop_when_solved": False}),
    ({**NEAT, "task": "cartpole"}, 7, 3, {"seeds": [0, 1], "stop_when_solved": False}),
    ({**NEAT, "task": "cartpole", "population": 10}, 10, 2, {"seeds": [0, 1, 2, 5],
                                                            "stagnation_limit": 5}),
]


@pytest.mark.parametrize("engine", ["kernel", "torch"])
@pytest.mark.parametrize("config, generations, k, kwargs", CASES,
                         ids=["ga", "ga-solving", "cosyne", "cmaes", "sep-cmaes-no-bias", "neat",
                              "neat-solving"])
def test_resumed_run_equals_the_uninterrupted_run(config, generations, k, kwargs, engine):
    full, seen, resumed, parts, _ = halves(config, generations, k, engine=engine, **kwargs)
    assert_same_run(full, seen, resumed, parts)
    assert [g for g, *_ in parts].count(k) == 1  # resumed after k, not from 0


@pytest.fixture
def champion_tests(monkeypatch):
    """Every champion test the run performs, in order (kernel or torch path): double-pole-nv
    with every episode a candidate, so the champion memory decides who is tested."""
    log = []
    kernel_test = KernelEngine.champion_solved

    def kernel_spy(self, genomes, index):
        log.append(("kernel", index))
        return kernel_test(self, genomes, index)

    for cls in (PureMode, NeatMode):
        copies = cls.copies
        monkeypatch.setattr(cls, "copies", lambda self, batch, index, n, device, _c=copies:
                            log.append(("torch", index, n)) or _c(self, batch, index, n, device))
    monkeypatch.setattr(KernelEngine, "champion_solved", kernel_spy)
    monkeypatch.setattr(double_pole.DoublePoleNV, "solved", lambda self, f: f > -1)
    return log


NV_CASES = [({**GA, **RECURRENT, "task": "double-pole-nv", "population": 12}, 6, 2),
            ({**COSYNE, **RECURRENT, "task": "double-pole-nv", "population": 12}, 6, 2),
            ({**NEAT_RECURRENT, "task": "double-pole-nv", "population": 24}, 6, 2)]


@pytest.mark.parametrize("engine", ["kernel", "torch"])
@pytest.mark.parametrize("config, generations, k", NV_CASES, ids=["ga", "cosyne", "neat"])
def test_champion_memory_is_resumed(config, generations, k, engine, champion_tests):
    """double-pole-nv (recurrent, champion test): the same champions are tested, and only
    those, whether the run was interrupted or not (some generations test none: their
    champion was tested before, which only the champion memory knows)."""
    full, seen, resumed, parts, _ = halves(config, generations, k, seeds=[0, 1], engine=engine,
                                           stop_when_solved=False)
    assert_same_run(full, seen, resumed, parts)
    uninterrupted, both = champion_tests[:len(champion_tests) // 2], champion_tests[len(champion_tests) // 2:]
    assert both == uninterrupted
    assert len({t[:2] for t in uninterrupted}) >= 2
    if config.get("mode") != "neat":  # elites kept unchanged are not tested again
        assert len(uninterrupted) < 2 * generations


@pytest.mark.parametrize("task", [MOUNTAIN_CAR, "gym:CartPole-v1"])
@pytest.mark.parametrize("config", [GA, COSYNE, CMAES, NEAT], ids=["ga", "cosyne", "cmaes", "neat"])
def test_user_and_gym_tasks_resume(task, config):
    """Tasks without a kernel (the torch path): a module:Class task, and a gym: task whose
    vector envs are pooled across generations (the resumed run starts with fresh ones)."""
    config = {**config, "task": task, "population": 12}
    full, seen, resumed, parts, _ = halves(config, 4, 1, seeds=[0, 1], stop_when_solved=False)
    assert_same_run(full, seen, resumed, parts)


@pytest.fixture(scope="module")
def neat_blob():
    blobs = {}

    def keep(g, so):
        blobs[g] = so.checkpoint()
        assert so.checkpoint() == blobs[g]  # deterministic: the same bytes twice

    config = {**NEAT, "task": "cartpole"}
    full = run_evolution(config, 4, seeds=[0, 1], stop_when_solved=False, on_generation=keep)
    return config, full, blobs


def test_checkpoints_at_the_first_and_the_last_generation_resume(neat_blob):
    config, full, blobs = neat_blob
    for g in (0, 3):
        later = []
        resumed = run_evolution(config, 4, seeds=[0, 1], stop_when_solved=False, resume=blobs[g],
                                on_generation=lambda g, so: later.append(g))
        assert without_seconds(resumed) == without_seconds(full)
        assert later == list(range(g + 1, 4))
    assert len({len(b) for b in blobs.values()}) > 1  # each generation its own state


def test_a_damaged_or_foreign_checkpoint_is_an_error(neat_blob):
    config, _, blobs = neat_blob
    blob = blobs[1]
    resume = lambda b, **kw: run_evolution(config, 4, resume=b, **{  # noqa: E731
        "seeds": [0, 1], "stop_when_solved": False, **kw})
    body = HEADER.size
    damaged = [blob[:len(blob) // 2], blob[:body], b"", b"not a checkpoint at all",
               blob[:3] + b"X" + blob[4:],  # magic
               blob[:9] + b"\x07" + blob[10:],  # format
               blob[:20] + bytes([blob[20] ^ 1]) + blob[21:],  # identity
               *(blob[:i] + bytes([blob[i] ^ 0x10]) + blob[i + 1:]
                 for i in (body + 2, body + len(blob[body:]) // 2, len(blob) - 2))]
    for bad in damaged:
        with pytest.raises(CheckpointError):
            resume(bad)
    foreign = [{"seeds": [0, 2]}, {"seeds": [0]}, {"stop_when_solved": True},
               {"stagnation_limit": 9}]
    for kwargs in foreign:
        with pytest.raises(CheckpointError, match="another run"):
            resume(blob, **kwargs)
    with pytest.raises(CheckpointError, match="another run"):
        run_evolution({**config, "population": 31}, 4, seeds=[0, 1], stop_when_solved=False,
                      resume=blob)
    with pytest.raises(CheckpointError, match="another run"):
        run_evolution(config, 5, seeds=[0, 1], stop_when_solved=False, resume=blob)
    with pytest.raises(CheckpointError, match="another run"):
        run_evolution({**GA, "task": "cartpole"}, 4, seeds=[0, 1], resume=blob)


def test_a_checkpoint_never_runs_code_it_carries(neat_blob):
    """The payload is plain data: a pickle naming any global is refused unloaded."""
    config, _, blobs = neat_blob
    evil = pickle.dumps(print)
    blob = blobs[1][:HEADER.size] + zlib.compress(evil)
    with pytest.raises(CheckpointError, match="builtins.print"):
        run_evolution(config, 4, seeds=[0, 1], stop_when_solved=False, resume=blob)


def test_results_keep_no_capture_and_a_stale_capture_is_refused():
    kept = []
    result = run_evolution({**GA, "task": "cartpole"}, 3, seeds=[0], stop_when_solved=False,
                           on_generation=lambda g, so: kept.append(so))
    assert "_capture" not in pickle.loads(pickle.dumps(kept[0])).__dict__
    assert kept[-1] == result  # equality ignores the capture
    kept[-1].checkpoint()  # the run ended there: still its state
    with pytest.raises(CheckpointError, match="moved on"):
        kept[0].checkpoint()
    with pytest.raises(CheckpointError, match="on_generation"):
        result.checkpoint()


def test_a_neat_state_comes_back_exactly():
    """Genes in their dict order (mutations draw by position; crossover and splits leave
    some genomes out of innovation order), weight types, species records, counters."""
    from nas.evolution.neat import NEAT, NEATParams

    params = NEATParams(add_node_prob=0.3, add_connection_prob=0.5, target_species=4,
                        output_activation="identity")
    neat, generator = NEAT(4, 1, 60, params), torch.Generator().manual_seed(0)
    state = neat.init(generator)
    for g in range(5):
        fitness = torch.rand(60, generator=torch.Generator().manual_seed(g), dtype=torch.float64)
        state = neat.tell(state, fitness, generator)
    state.population[0].connections[0].weight = np.float64(0.25)  # as numpy arithmetic leaves it
    assert any(list(g.connections) != sorted(g.connections) for g in state.population)
    back = _unpack_state(pickle.loads(pickle.dumps(_pack_state(state))))
    assert repr(back) == repr(state)  # numpy scalars and Python floats print apart
    assert [list(g.connections) for g in back.population] == \
        [list(g.connections) for g in state.population]
    assert type(back.population[0].connections[0].weight) is np.float64


@pytest.mark.parametrize("params", [{"sigma": 0.3}, {"sigma": 0.3, "separable": True, "biases": False}],
                         ids=["cma", "sep-no-bias"])
def test_a_cmaes_state_comes_back_exactly_and_tells_the_same(params):
    """Every array and number of the cmaes distribution keeps its type and bits, so the
    next generation drawn from the restored state is the same."""
    from nas.evolution.algorithms import CMAESParams
    from nas.evolution.modes import PureMode
    from nas.evolution.config import EvolutionConfig
    from nas.evolution.tasks import get_task

    cfg = EvolutionConfig(task="double-pole", population=10, hidden=(3,), algorithm="cmaes",
                          algorithm_params=params)
    algo = PureMode(cfg, get_task("double-pole")).algorithm
    assert isinstance(algo.params, CMAESParams)
    generator = torch.Generator().manual_seed(3)
    state = algo.init(generator)
    for g in range(3):
        fitness = torch.rand(10, generator=torch.Generator().manual_seed(g), dtype=torch.float64)
        state = algo.tell(state, fitness, generator)
    back = _unpack_state(pickle.loads(pickle.dumps(_pack_state(state))))
    assert repr(back.distribution) == repr(state.distribution)
    assert {k: type(v) for k, v in back.distribution.items()} == \
        {k: type(v) for k, v in state.distribution.items()}
    assert torch.equal(back.population, state.population) and back.generation == 3
    fitness = torch.arange(10, dtype=torch.float64)
    a = algo.tell(state, fitness, torch.Generator().manual_seed(9))
    b = algo.tell(back, fitness, torch.Generator().manual_seed(9))
    assert torch.equal(a.population, b.population)
