"""The compiled episode kernels against the torch path, and their own guarantees: a row's
result bit-identical alone or batched, run to run and at any thread count."""
import os
import random
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from nas.errors import NasError
from nas.evolution import run_evolution
from nas.evolution.algorithms import GA
from nas.evolution.config import EvolutionConfig
from nas.evolution.evaluators import Evaluator, TorchEvaluator, evaluator_for, kernel_evaluator
from nas.evolution.kernels import episodes
from nas.evolution.kernels.engine import KernelEngine
from nas.evolution.modes import MODES
from nas.evolution.tasks import get_task
from nas.evolution.tasks.double_pole import (DoublePole, DoublePoleNV, DoublePoleNVGomez,
                                             generalization_starts)
from test_double_pole import LQR, ref_control_step

TASKS = ("cartpole", "double-pole", "double-pole-nv", "double-pole-nv-gomez")
# (hidden, activation, recurrence): every activation and recurrence of the pure space
PURE = [((8,), "tanh", "none"), ((6, 5), "relu", "none"), ((5,), "sigmoid", "none"),
        ((4,), "elu", "none"), ((5,), "tanh", "elman"), ((4, 3), "sigmoid", "elman"),
        ((5,), "tanh", "full"), ((3,), "relu", "full")]


def pure_batch(task_name, hidden, activation, recurrent, rows=120, seed=0, scale=1.0):
    """A pure-mode population (the GA's first draw, scaled) and its starts."""
    cfg = EvolutionConfig.from_dict({"task": task_name, "population": rows, "hidden": list(hidden),
                                     "activation": activation, "recurrent": recurrent})
    task = get_task(task_name)
    mode = MODES["pure"](cfg, task)
    gen = torch.Generator().manual_seed(seed)
    genomes = mode.algorithm.ask(mode.algorithm.init(gen)) * scale
    return task, mode, genomes, task.initial_states(gen, rows)


def torch_fitness(task, mode, genomes, starts):
    with torch.inference_mode():
        return task.evaluate(mode.policy([genomes], "cpu"), starts).clone()


def kernel_fitness(task, mode, genomes, starts):
    engine = kernel_evaluator(task, mode, "cpu", "kernel")
    assert engine is not None, "this batch should take the kernel"
    return engine.evaluate([genomes], starts)


def assert_same_fitness(task, kernel, reference):
    """Steps survived: equal. Damping fitness: relative 1e-12 (the wobble sums round alike
    only where torch's transcendental functions and glibc's agree to the last bit)."""
    if task.name.startswith("double-pole-nv"):  # 0.1 t / 1000 in it: within 1e-12, equal t
        torch.testing.assert_close(kernel, reference, rtol=1e-12, atol=0)
    else:
        assert kernel.tolist() == reference.tolist()


# double-pole-nv's search space offers recurrent networks only
@pytest.mark.parametrize("task_name, hidden, activation, recurrent",
                         [(t, *net) for t in TASKS for net in PURE
                          if not (t.startswith("double-pole-nv") and net[2] == "none")])
def test_pure_networks_score_as_on_the_torch_path(task_name, hidden, activation, recurrent):
    task, mode, genomes, starts = pure_batch(task_name, hidden, activation, recurrent)
    kernel, reference = kernel_fitness(task, mode, genomes, starts), torch_fitness(task, mode, genomes, starts)
    assert_same_fitness(task, kernel, reference)
    assert len(set(reference.tolist())) > 3  # episodes of many lengths, not one


def test_balancing_networks_run_their_whole_episodes_alike():
    """Long episodes (round-off has 2,000 steps to show): LQR-like linear controllers on the
    Markov double pole, and a balancing cartpole population."""
    task, mode, genomes, starts = pure_batch("double-pole", (), "tanh", "none", rows=12)
    scales = torch.linspace(0.4, 1.6, 12).unsqueeze(1)
    genomes = (torch.tensor(list(LQR) + [0.0, 0.0]) * scales).float()
    task.max_steps = 2000  # the kernel honours instance settings, as the torch path does
    kernel, reference = kernel_fitness(task, mode, genomes, starts), torch_fitness(task, mode, genomes, starts)
    assert kernel.tolist() == reference.tolist()
    assert 2000.0 in reference.tolist() and min(reference.tolist()) < 2000
    # the trajectories themselves: the wobble (|x| + |x_dot| + |th1| + |th1_dot|) summed over
    # steps 51..150, while the poles still swing
    from nas.evolution.tasks.double_pole import _episodes

    with torch.inference_mode():
        _, torch_wobble = _episodes(task, mode.policy([genomes], "cpu"), starts, 150, wobble="state")
    engine = kernel_evaluator(task, mode, "cpu", "kernel")
    _, _, wobble = engine.networks.run(engine.networks.batch([genomes]), np.arange(12),
                                       starts.numpy(), 150, episodes.STATE_WOBBLE, 1)
    # Many rows are bit-identical. Where torch's cos/sin and glibc's differ in the last bit,
    # the float32 rounding of an observation can flip one ulp (6e-8), which moves the rest
    # of that run by ~1e-8 relative. How many rows differ depends on the CPU's vector math
    # (torch picks its sin/cos by instruction set): 5 of 12 are identical on an AMD EPYC
    # VM, 6 or more on the machine this test was written on.
    torch.testing.assert_close(torch.from_numpy(wobble), torch_wobble, rtol=1e-7, atol=0)
    assert (torch.from_numpy(wobble) == torch_wobble).sum() >= 3
    assert (torch_wobble > 1e-2).all()

    task, mode, genomes, starts = pure_batch("cartpole", (8,), "tanh", "none", rows=60, scale=0.01)
    layers = mode.spec.unflatten(genomes)
    layers["w0"][:, :, 0] += torch.tensor([0.1, 0.5, 10.0, 2.0])
    layers["w1"][:, 0, 0] += 1.0
    kernel, reference = kernel_fitness(task, mode, genomes, starts), torch_fitness(task, mode, genomes, starts)
    assert kernel.tolist() == reference.tolist() and reference.mean() > 400


def test_wide_layers_agree_to_float32_rounding():
    """in x out >= 400: torch uses BLAS (its own order, FMA), the kernel torch's small-matrix
    order; outputs differ in the last bits, so an action can flip where an output is ~0.
    Episode lengths still agree for nearly every row."""
    task, mode, genomes, starts = pure_batch("cartpole", (24, 24), "tanh", "none", rows=200)
    kernel, reference = kernel_fitness(task, mode, genomes, starts), torch_fitness(task, mode, genomes, starts)
    assert (kernel != reference).sum() <= 4


def evolved_neat(task, recurrent, activation="sigmoid", output=None, pop=60, gens=8, seed=1,
                 **extra):
    """A NEAT mode whose population has grown hidden nodes and links (random fitness)."""
    params = {"recurrent": recurrent, "activation": activation, "add_node_prob": 0.4,
              "add_connection_prob": 0.5, "weight_sigma": 1.0, **extra}
    if output:
        params["output_activation"] = output
    cfg = EvolutionConfig.from_dict({"task": task.name, "mode": "neat", "population": pop,
                                     "algorithm_params": params})
    mode = MODES["neat"](cfg, task)
    gen = torch.Generator().manual_seed(seed)
    state = mode.algorithm.init(gen)
    for _ in range(gens):
        state = mode.algorithm.tell(state, torch.rand(pop, generator=gen, dtype=torch.float64), gen)
    genomes = mode.algorithm.ask(state)
    assert max(len(g.hidden) for g in genomes) >= 2
    return mode, genomes, task.initial_states(gen, pop)


@pytest.mark.parametrize("task_name", TASKS)
@pytest.mark.parametrize("recurrent, activation, output", [
    (False, "sigmoid", None), (False, "tanh", "identity"), (True, "sigmoid", None),
    (True, "tanh", "sigmoid")])
def test_neat_networks_score_as_on_the_torch_path(task_name, recurrent, activation, output):
    task = get_task(task_name)
    mode, genomes, starts = evolved_neat(task, recurrent, activation, output)
    kernel = kernel_evaluator(task, mode, "cpu", "kernel").evaluate([genomes], starts)
    with torch.inference_mode():
        reference = task.evaluate(mode.policy([genomes], "cpu"), starts).clone()
    assert_same_fitness(task, kernel, reference)


@pytest.mark.parametrize("task_name", ["double-pole-nv", "cartpole"])
def test_neat_output_gain_scores_as_on_the_torch_path(task_name):
    task = get_task(task_name)
    mode, genomes, starts = evolved_neat(task, True, "sigmoid", "identity", output_gain=4.9)
    kernel = kernel_evaluator(task, mode, "cpu", "kernel").evaluate([genomes], starts)
    with torch.inference_mode():
        reference = task.evaluate(mode.policy([genomes], "cpu"), starts).clone()
    assert_same_fitness(task, kernel, reference)
    plain = MODES["neat"](EvolutionConfig.from_dict(
        {"task": task_name, "mode": "neat", "population": 60,
         "algorithm_params": {"recurrent": True, "output_activation": "identity"}}), task)
    assert not torch.equal(kernel_evaluator(task, plain, "cpu", "kernel").evaluate([genomes], starts),
                           kernel)  # the gain changes what the networks do


def test_neat_genomes_whose_outputs_feed_other_nodes():
    """torch's other propagation branch: a link from the output into a new hidden node
    (one that feeds nothing back, so the graph stays acyclic)."""
    from nas.evolution.neat import ConnectionGene

    task = get_task("cartpole")
    mode, genomes, starts = evolved_neat(task, False)
    for g in genomes[::3]:
        node = max(g.node_ids()) + 1
        g.hidden.append(node)
        g.connections[10**6] = ConnectionGene(10**6, task.obs_size, node, 0.7)
        g.connections[10**6 + 1] = ConnectionGene(10**6 + 1, 0, node, -1.3)
    kernel = kernel_evaluator(task, mode, "cpu", "kernel").evaluate([genomes], starts)
    with torch.inference_mode():
        assert kernel.tolist() == task.evaluate(mode.policy([genomes], "cpu"), starts).tolist()


def split_rows(evaluate, genomes, starts, sizes):
    """Fitness of consecutive groups of rows evaluated as separate batches."""
    out, at = [], 0
    for n in sizes:
        out.append(evaluate(genomes[at:at + n], starts[at:at + n]))
        at += n
    return torch.cat(out)


@pytest.mark.parametrize("task_name, kind", [("double-pole-nv", "pure"), ("cartpole", "neat"),
                                             ("double-pole-nv", "neat"),
                                             ("double-pole-nv-gomez", "pure")])
def test_a_row_is_bit_identical_alone_batched_rerun_and_at_any_thread_count(task_name, kind):
    task = get_task(task_name)
    if kind == "pure":
        _, mode, genomes, starts = pure_batch(task_name, (5,), "tanh", "full", rows=48)
    else:
        mode, genomes, starts = evolved_neat(task, task_name != "cartpole", pop=48)
    if task_name.startswith("double-pole-nv"):
        starts = generalization_starts()[::13][:48]  # a different start per row
    engine = kernel_evaluator(task, mode, "cpu", "kernel")
    evaluate = lambda g, s: engine.evaluate([g], s)  # noqa: E731
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = evaluate(genomes, starts)
        torch.set_num_threads(2)
        two = evaluate(genomes, starts)
    finally:
        torch.set_num_threads(threads)
    again = evaluate(genomes, starts)
    alone = split_rows(evaluate, genomes, starts, [1] * len(starts))
    mixed = split_rows(evaluate, genomes, starts, [5, 1, 17, 25])
    for other in (two, again, alone, mixed):
        assert torch.equal(one, other)
    assert len(set(one.tolist())) > 8


@pytest.mark.parametrize("task_name, hidden, recurrent", [("cartpole", (8,), "none"),
                                                      ("double-pole", (5,), "elman"),
                                                      ("double-pole-nv", (5,), "full")])
def test_lockstep_lanes_give_a_row_the_same_bits_in_any_batch_and_thread_count(
        task_name, hidden, recurrent):
    """Pure networks run 16 episodes per thread in SIMD lanes, refilled as episodes end:
    batches of 1, 3, 8 and 17 rows put a row in other lanes beside other episodes (and
    dummy lanes), 1 or 2 threads share the queue differently; the results must not move.
    double-pole-nv's fitness includes the damping wobble (its window sum per lane)."""
    task = get_task(task_name)
    _, mode, genomes, starts = pure_batch(task_name, hidden, "tanh", recurrent, rows=49)
    if task_name.startswith("double-pole-nv"):
        starts = generalization_starts()[::11][:49]
    evaluate = lambda g, s: kernel_fitness(task, mode, g, s)  # noqa: E731
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            results.append(evaluate(genomes, starts))
            results.append(split_rows(evaluate, genomes, starts, [1, 3, 8, 17, 20]))
            results.append(split_rows(evaluate, genomes, starts, [17, 8, 3, 1, 20]))
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        assert torch.equal(results[0], other)
    assert len(set(results[0].tolist())) > 8  # episodes of many lengths: lanes refilled


@pytest.mark.parametrize("hidden, activation, recurrent", PURE)
def test_a_row_ends_alone_with_the_bits_it_has_in_lockstep(hidden, activation, recurrent):
    """A block's last live lanes, once its queue is empty, finish one at a time in scalar
    code (alone.py); every other step runs in lockstep. A row of a 1-row batch runs alone
    from its first step, in a 40-row batch mostly in lockstep. The state wobble (the sum of
    |x| + |x_dot| + |th1| + |th1_dot| over the steps) moves with any bit of the trajectory,
    so it must agree to the bit, at 1 thread and 2."""
    task, mode, genomes, starts = pure_batch("double-pole", hidden, activation, recurrent,
                                             rows=40, scale=0.3)
    engine = kernel_evaluator(task, mode, "cpu", "kernel")
    net, starts = engine.networks.batch([genomes]), starts.numpy()
    batched = [engine.networks.run(net, np.arange(40), starts, 150, episodes.STATE_WOBBLE, n)
               for n in (1, 2)]
    alone = [engine.networks.run(net, np.array([i]), starts[i:i + 1], 150,
                                 episodes.STATE_WOBBLE, 1) for i in range(40)]
    for survived, _, wobble in batched:
        assert survived.tolist() == [int(a[0][0]) for a in alone]
        assert wobble.tolist() == [float(a[2][0]) for a in alone]
    assert len(set(batched[0][0].tolist())) > 4  # episodes of many lengths: lanes refilled


def physics(task, states, outputs):
    spec = task.kernel()
    from nas.evolution.kernels.episodes import physics_steps

    states = np.array(states, np.float64)
    failed = np.zeros(len(states), np.bool_)
    physics_steps(spec.physics, spec.fric[0], spec.fric[1], spec.mu_c, spec.force_floor, states,
                  np.array(outputs, np.float32), failed)
    return states, failed


def test_cartpole_physics_matches_gymnasium_and_torch_step_for_step():
    rng = np.random.default_rng(0)
    states = rng.uniform(-0.3, 0.3, size=(500, 4))
    actions = rng.integers(0, 2, size=500)
    ours, done = physics(get_task("cartpole"), states, np.where(actions == 1, 1.0, -1.0))
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=0)
    from nas.evolution.tasks.cartpole import cartpole_step

    torch_next, torch_done = cartpole_step(torch.tensor(states), torch.tensor(actions == 1))
    for i in range(500):
        env.state = states[i].copy()
        env.steps_beyond_terminated = None
        _, _, terminated, _, _ = env.step(int(actions[i]))
        np.testing.assert_allclose(ours[i], env.state, rtol=0, atol=1e-12)
        assert bool(done[i]) == terminated
    np.testing.assert_allclose(ours, torch_next.numpy(), rtol=1e-15, atol=1e-17)
    assert done.tolist() == torch_done.tolist() and 0 < done.sum() < 500


@pytest.mark.parametrize("task", [DoublePole(), DoublePoleNVGomez()], ids=lambda t: t.name)
def test_double_pole_physics_matches_the_reference_step_for_step(task):
    """Gomez's setup adds cart friction (x_dot = 0 exactly in every 10th state: sgn(0) = +1)
    and the force floor (every 7th output 0)."""
    rng = random.Random(0)
    states = [[rng.uniform(-2.4, 2.4), rng.uniform(-2, 2), rng.uniform(-0.6, 0.6),
               rng.uniform(-3, 3), rng.uniform(-0.6, 0.6), rng.uniform(-3, 3)] for _ in range(200)]
    outs = [rng.gauss(0.0, 2.0) for _ in range(200)]
    if task.mu_c:
        for i in range(0, 200, 10):
            states[i][1] = 0.0
        outs[::7] = [0.0] * len(outs[::7])
    ours, failed = physics(task, states, outs)
    torch_next, torch_failed = task.step(torch.tensor(states, dtype=torch.float64),
                                         torch.tensor(outs, dtype=torch.float32)[:, None])
    for i in range(200):
        ref, ref_failed = ref_control_step(states[i], float(np.float32(outs[i])), task.mu_c,
                                           task.force_floor)
        np.testing.assert_allclose(ours[i], ref, rtol=1e-12, atol=1e-12)
        assert bool(failed[i]) == ref_failed
    np.testing.assert_allclose(ours, torch_next.numpy(), rtol=1e-13, atol=1e-15)
    assert failed.tolist() == torch_failed.tolist() and 0 < failed.sum() < 200


def test_fitness_counts_the_failing_step_as_gymnasium_does():
    """A network that always pushes right (no hidden layer, zero weights, bias 1)."""
    task = get_task("cartpole")
    _, mode, _, _ = pure_batch("cartpole", (), "tanh", "none", rows=3)
    genomes = torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0]] * 3)
    fitness = kernel_fitness(task, mode, genomes, torch.zeros(3, 4, dtype=torch.float64))
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=0)
    env.state, steps = np.zeros(4), 1
    while not env.step(1)[2]:
        steps += 1
    assert fitness.tolist() == [steps] * 3


@pytest.mark.parametrize("kind, cls, needed", [("pure", DoublePoleNV, 200),
                                               ("neat", DoublePoleNV, 200),
                                               ("pure", DoublePoleNVGomez, 200),
                                               ("pure", DoublePoleNVGomez, 0)])
def test_champion_test_decides_as_the_torch_path(kind, cls, needed):
    """Smaller test sizes (instance settings, which both paths read) so random networks
    land on both sides of each test; needed 0: the long run alone (Gomez's rule)."""
    task = cls()
    task.long_steps, task.generalization_steps, task.generalization_needed = 12, 10, needed
    if kind == "pure":
        _, mode, genomes, _ = pure_batch(task.name, (4,), "tanh", "full", rows=40, seed=3)
    else:
        mode, genomes, _ = evolved_neat(task, True, pop=40, seed=3)
    engine = kernel_evaluator(task, mode, "cpu", "kernel")
    with torch.inference_mode():
        reference = [task.champion_solved(lambda n, i=i: mode.copies(genomes, i, n, "cpu"))
                     for i in range(40)]
    assert [engine.champion_solved(genomes, i) for i in range(40)] == reference
    assert 0 < sum(reference) < 40


@pytest.mark.parametrize("config", [
    {"population": 30, "hidden": [4], "activation": "tanh", "algorithm_params": {"sigma": 0.3}},
    {"task": "double-pole-nv", "population": 20, "hidden": [3], "recurrent": "full",
     "algorithm": "cosyne"},
    {"mode": "neat", "population": 40, "algorithm_params": {"add_node_prob": 0.2}}])
def test_run_evolution_gives_the_same_run_on_either_engine(config):
    runs = {engine: run_evolution(config, generations=5, seeds=[0, 1], engine=engine,
                                  stop_when_solved=False) for engine in ("kernel", "torch")}
    curves = {e: [(s.curve_best, s.curve_mean) for s in r.seeds] for e, r in runs.items()}
    assert curves["kernel"] == curves["torch"]


def test_engine_choice_and_fallbacks(monkeypatch):
    task, mode, genomes, starts = pure_batch("cartpole", (4,), "tanh", "none", rows=4)

    def chosen(task, device="cpu", engine=None, mode=mode):
        evaluator = evaluator_for(task, mode, device, engine)
        assert isinstance(evaluator, Evaluator)  # whichever it is, the one protocol
        return type(evaluator)

    assert chosen(task, "cpu", "kernel") is KernelEngine
    assert chosen(task, "cpu", "torch") is TorchEvaluator
    assert chosen(task, "cuda", "kernel") is TorchEvaluator  # --device cuda: torch
    monkeypatch.setenv("NAS_ENGINE", "torch")
    assert chosen(task) is TorchEvaluator
    monkeypatch.setenv("NAS_ENGINE", "fast")
    with pytest.raises(NasError, match="NAS_ENGINE must be one of kernel, torch"):
        chosen(task)
    monkeypatch.delenv("NAS_ENGINE")
    float64 = MODES["pure"](EvolutionConfig.from_dict({"population": 4, "hidden": [4]}), task)
    float64.algorithm = GA(float64.spec.n_params, 4, float64.algorithm.params, dtype=torch.float64)
    assert chosen(task, mode=float64) is TorchEvaluator  # the kernels run float32 genomes

    class Tilted(type(task)):  # a subclass may change anything: torch path
        pass

    assert Tilted().kernel() is None and chosen(Tilted()) is TorchEvaluator
    monkeypatch.setattr(type(task), "step", lambda self, s, o: (s, o[:, 0] > 0))
    assert task.kernel() is None and chosen(task) is TorchEvaluator  # a patched method: torch


@pytest.mark.parametrize("task_name", TASKS)
@pytest.mark.parametrize("kind", ["pure", "neat"])
def test_every_built_in_task_gets_the_kernel_evaluator_in_either_mode(task_name, kind):
    cfg = EvolutionConfig.from_dict({"task": task_name, "mode": kind, "population": 4,
                                     "hidden": [3], "recurrent": "full"} if kind == "pure" else
                                    {"task": task_name, "mode": kind, "population": 4})
    task = get_task(task_name)
    assert isinstance(evaluator_for(task, MODES[kind](cfg, task), "cpu", "kernel"), KernelEngine)


@pytest.mark.parametrize("name, method", [("double-pole-nv", "champion_solved"),
                                          ("double-pole-nv-gomez", "fitness_of"),
                                          ("double-pole", "observe")])
def test_a_patched_kernel_method_of_any_built_in_task_takes_the_torch_path(name, method,
                                                                           monkeypatch):
    task = get_task(name)
    assert task.kernel() is not None
    monkeypatch.setattr(type(task), method, lambda self, *args: None)
    assert task.kernel() is None


def test_tasks_without_a_kernel_get_the_torch_evaluator():
    """A `package.module:Class` task (here one subclassing cartpole) and a `gym:` task."""
    for name in ("tests.fixtures.broken_tasks:KeepsCounting", "gym:CartPole-v1"):
        task = get_task(name)
        cfg = EvolutionConfig.from_dict({"task": name, "population": 4})
        assert task.kernel() is None
        assert isinstance(evaluator_for(task, MODES["pure"](cfg, task), "cpu", "kernel"),
                          TorchEvaluator)


CACHE_PROBE = ("import torch\n"
               "from nas.evolution.kernels import warm, episodes\n"
               "warm.ensure_compiled()\n"  # what a worker's first kernel evaluator does
               "warm.warm_part('pure')\n"
               "warm.warm_part('neat')\n"
               "k = [episodes.pure_episodes, episodes.neat_episodes, episodes.physics_steps]\n"
               "print(sum(sum(f.stats.cache_misses.values()) for f in k),"
               " sum(sum(f.stats.cache_hits.values()) for f in k))\n")


def cache_probe(env=None) -> tuple[int, int]:
    """(kernels compiled, kernels loaded from the cache) by a new process calling each."""
    out = subprocess.run([sys.executable, "-c", CACHE_PROBE], check=True, capture_output=True,
                         text=True, env=env)
    misses, hits = map(int, out.stdout.split())
    return misses, hits


def test_compiled_kernels_are_loaded_from_the_cache_by_a_new_process():
    """The first process on a machine compiles (the session's warm-up did); the next loads."""
    misses, hits = cache_probe()
    assert misses == 0 and hits >= 3


def test_a_read_only_image_cache_seeds_an_empty_writable_one(tmp_path):
    """A container with a read-only root: the image's baked cache is copied into the
    worker's writable cache, so the first trial loads instead of compiling."""
    import shutil

    from nas.evolution.kernels import _numba

    current = Path(_numba.numba.config.CACHE_DIR)
    baked = tmp_path / "image-cache"
    shutil.copytree(current, baked / current.name)
    os.chmod(baked, 0o555)
    writable = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NAS_", "NUMBA_CACHE"))}
    env.update(NAS_KERNEL_CACHE=str(writable), NAS_KERNEL_CACHE_IMAGE=str(baked))
    misses, hits = cache_probe(env)
    assert misses == 0 and hits >= 3
    assert (writable / current.name / "complete").exists()
