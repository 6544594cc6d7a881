"""`-t gym:ENV_ID`: Gymnasium environments on its vector API, checked against plain
Gymnasium loops, through the contract, and as real studies (MuJoCo included)."""
import re

import gymnasium as gym
import numpy as np
import pytest
import torch
from PIL import Image

from nas.errors import NasError
from nas.evolution import run_evolution
from nas.evolution.neat import NEAT, NEATParams, compile_population
from nas.evolution.networks import BatchedNetwork, NetworkSpec
from nas.evolution.tasks import get_task, task_class
from nas.evolution.tasks.contract import check_task
from nas.spec import StudySpec
from nas.testing import nas, query

POP = 24


def gen(seed):
    return torch.Generator().manual_seed(seed)


def elman(n_in, n_out, n, seed=0):
    spec = NetworkSpec(n_in, n_out, (5,), "tanh", "elman")
    params = torch.randn(n, spec.n_params, generator=gen(seed))
    return lambda: BatchedNetwork(spec, params)


def neat(n_in, n_out, n, seed=0):
    params = NEATParams(recurrent=True, output_activation="identity")
    algo = NEAT(n_in, n_out, n, params)
    genomes = algo.ask(algo.init(gen(seed)))
    return lambda: compile_population(genomes, n_in, n_out, params)


def plain_vector_loop(env_id, mode, seed, make_net, to_action):
    """What a Gymnasium user writes: make_vec, reset(seed=s), step until every sub-env has
    ended once; each sub-env's first episode's return. The network sees every row always."""
    envs = gym.make_vec(env_id, num_envs=POP, vectorization_mode=mode)
    obs, _ = envs.reset(seed=seed)
    net, returns, done = make_net(), np.zeros(POP), np.zeros(POP, dtype=bool)
    while not done.all():
        out = net(torch.as_tensor(obs, dtype=torch.float64))
        obs, reward, terminated, truncated, _ = envs.step(to_action(out))
        returns += np.where(done, 0.0, reward)
        done |= terminated | truncated
    envs.close()
    return returns


@pytest.mark.parametrize("make", [elman, neat], ids=["pure-elman", "neat-recurrent"])
def test_cartpole_returns_equal_a_plain_gymnasium_vector_loop(make):
    task = get_task("gym:CartPole-v1")
    starts = task.initial_states(gen(7), POP)
    seed = int(starts[0, 0])
    assert starts.tolist() == [[seed, i, POP] for i in range(POP)]
    make_net = make(4, 2, POP)
    ours = task.evaluate(make_net(), starts)
    theirs = plain_vector_loop("CartPole-v1", "vector_entry_point", seed, make_net,
                               lambda out: out.argmax(1).numpy())
    assert ours.tolist() == theirs.tolist()
    assert len(set(theirs.tolist())) > 3  # episodes of many lengths: rows did drop out


def test_pendulum_returns_equal_plain_single_env_loops_with_tanh_scaled_torque():
    """No native vector env: a SyncVectorEnv, sub-env i seeded s + i as Gymnasium does."""
    task = get_task("gym:Pendulum-v1")
    n = 4
    starts = task.initial_states(gen(3), n)
    make_net = elman(3, 1, n, seed=1)
    ours = task.evaluate(make_net(), starts)
    net, theirs = make_net(), []
    envs = [gym.make("Pendulum-v1") for _ in range(n)]
    obs = np.stack([e.reset(seed=int(starts[0, 0]) + i)[0] for i, e in enumerate(envs)])
    total, done = np.zeros(n), False
    while not done:
        torque = 2.0 * np.tanh(net(torch.as_tensor(obs)).double().numpy())  # [-2, 2]
        steps = [e.step(torque[i].astype(np.float32)) for i, e in enumerate(envs)]
        obs = np.stack([s[0] for s in steps])
        total += [s[1] for s in steps]
        done = all(s[2] or s[3] for s in steps)
    theirs = total.tolist()
    torch.testing.assert_close(ours, torch.tensor(theirs, dtype=torch.float64), rtol=1e-12, atol=0)


def test_actions_argmax_and_bounds():
    cart, pend = get_task("gym:CartPole-v1"), get_task("gym:Pendulum-v1")
    assert cart._actions(torch.tensor([[0.1, 0.2], [3.0, -1.0], [1.0, 1.0]])).tolist() == [1, 0, 0]
    torque = pend._actions(torch.tensor([[100.0], [-100.0], [0.0], [float("nan")]]))
    assert torque.dtype == np.float32 and torque[:, 0].tolist() == [2.0, -2.0, 0.0, 0.0]


def test_sizes_limits_and_solved_criterion_come_from_the_env_spec():
    cart = task_class("gym:CartPole-v1")
    assert (cart.obs_size, cart.act_size, cart.max_steps, cart.target_fitness) == (4, 2, 500, 475.0)
    assert cart.native and not task_class("gym:Pendulum-v1").native
    assert task_class("gym:FrozenLake-v1").obs_size == 16  # Discrete observations: one-hot
    pend = task_class("gym:Pendulum-v1")
    assert (pend.obs_size, pend.act_size, pend.target_fitness) == (3, 1, None)
    assert get_task("gym:CartPole-v1").solved(torch.tensor([474.0, 475.0])).tolist() == [False, True]
    assert StudySpec(task="gym:CartPole-v1").metric == "evaluations"
    assert StudySpec(task="gym:Pendulum-v1").metric == "fitness"  # no solved criterion
    with pytest.raises(NasError, match="--metric auc needs a solved criterion"):
        StudySpec(task="gym:Pendulum-v1", metric="auc").check_task()


@pytest.mark.parametrize("name", ["gym:CartPole-v1", "gym:Pendulum-v1", "gym:InvertedPendulum-v5"])
def test_gym_tasks_pass_the_task_contract(name):
    assert len(check_task(name)) >= 4


def test_a_seed_evolves_the_same_alone_and_beside_others():
    config = {"task": "gym:InvertedPendulum-v5", "mode": "pure", "population": 8, "hidden": [4]}
    both = run_evolution(config, 2, [0, 1])
    alone = run_evolution(config, 2, [1])
    assert both.seeds[1].curve_best == alone.seeds[0].curve_best
    assert both.seeds[0].curve_best != both.seeds[1].curve_best
    assert run_evolution(config, 2, [0, 1]).seeds[0].curve_mean == both.seeds[0].curve_mean


def test_unknown_env_and_bad_spaces_are_one_line_errors(nas_env, db_url):
    for task, needle in [("gym:NoSuchEnv-v0", "unknown Gymnasium environment 'NoSuchEnv-v0'"),
                         ("gym:CartPole-v9", "unknown Gymnasium environment 'CartPole-v9'"),
                         ("gym:Blackjack-v1", "gym:Blackjack-v1: observation space Tuple")]:
        out = nas("search", "bad", "-t", task, "-j", "0", env=nas_env)
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and needle in out.stderr, out.stderr
    assert query(db_url, "SELECT to_regclass('nas.studies')") == [(None,)]  # nothing written


@pytest.mark.parametrize("mode", ["neat", "pure"])
def test_mujoco_study_runs_to_the_end_through_real_workers(nas_env, db_url, tmp_path, mode):
    nas("search", f"ip-{mode}", "-t", "gym:InvertedPendulum-v5", "-m", mode, "-n", "2", "-g", "2",
        "-s", "1", "-p", "10", "-j", "1", "--sampler", "random", "--pruner", "none",
        env=nas_env, check=True)
    trials = query(db_url, "SELECT state, value FROM nas.trials ORDER BY number")
    assert [t[0] for t in trials] == ["COMPLETE", "COMPLETE"]
    runs = query(db_url, "SELECT best_fitness, generations, evaluations FROM nas.seed_runs")
    assert len(runs) == 2 and all(f > 0 and g >= 1 and e >= 10 for f, g, e in runs)
    listing = nas("study", "list", env=nas_env, check=True).stdout
    assert f"{mode}/gym:InvertedPendulum-v5" in listing and "evaluations" in listing
    gif = tmp_path / f"{mode}.gif"
    said = nas("replay", f"ip-{mode}", "--out", str(gif), env=nas_env, check=True).stdout
    found = re.search(r"an episode of ([\d,]+) steps.*, return ([-\d.,]+), the first ([\d,]+) drawn", said)
    assert found, said
    steps, drawn = int(found[1].replace(",", "")), int(found[3].replace(",", ""))
    assert drawn == min(steps, 400) and float(found[2].replace(",", "")) > 0
    with Image.open(gif) as img:
        assert img.n_frames == drawn + 1 and img.size[0] == 320
    if mode == "pure":  # where MuJoCo cannot render, replay says why and still scores it
        # a display that is not there and no MUJOCO_GL: MuJoCo tries GLFW and cannot render
        broken = {**{k: v for k, v in nas_env.items() if k != "MUJOCO_GL"}, "DISPLAY": ":99"}
        out = nas("replay", "ip-pure", "--out", str(tmp_path / "x.gif"), env=broken, check=True)
        lines = out.stdout.strip().splitlines()
        assert lines[0].startswith("cannot render gym:InvertedPendulum-v5 here: ") and \
            "MUJOCO_GL=egl" in lines[0] and lines[0].endswith(f"nothing written to {tmp_path / 'x.gif'}"), lines
        assert re.fullmatch(rf"trial \d+, seed \d+: an episode of {found[1]} steps.*, "
                            rf"return {re.escape(found[2])}", lines[1]), lines
        assert not (tmp_path / "x.gif").exists()
