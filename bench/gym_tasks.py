"""Env-steps per second of `-t gym:ENV_ID` against the built-in batched `cartpole`.

One env-step is one network activation plus one environment step of one live episode;
`stepped/s` also counts the sub-envs Gymnasium's vector API steps after their episode
ended (nas ignores them; the vector API has no way to step only some). Each row evaluates one population of pure networks, hidden (8,), tanh, with
`task.evaluate`, the call `run_evolution` makes once per generation, after a warm-up
call (so a SyncVectorEnv's construction is not timed; it is printed apart):
    cartpole            nas's batched torch CartPole (the torch path)
    gym:CartPole-v1     Gymnasium's native CartPoleVectorEnv (numpy), same population
    gym:<MuJoCo env>    a SyncVectorEnv of MuJoCo envs (one per episode), its own population
Both CartPoles run balancing controllers (every episode lasts its 500 steps), so they do
the same work per individual; the MuJoCo population is random networks.
Run: python bench/gym_tasks.py [--population 1000] [--mujoco InvertedPendulum-v5 --mujoco-population 100]
"""
from __future__ import annotations

import argparse
import time

import torch

from _support import ROOT, parse_args  # noqa: F401  (ROOT: puts the project on sys.path)
from nas.evolution.networks import BatchedNetwork, NetworkSpec
from nas.evolution.tasks import get_task

CARTPOLE_CONTROLLER = [0.1, 0.5, 10.0, 2.0]  # push toward the fall: balances every start


class Counting:
    """A policy wrapper that counts live episode-steps (rows per call) and calls."""

    def __init__(self, policy):
        self.policy, self.steps, self.calls = policy, 0, 0

    def __call__(self, obs):
        self.steps += len(obs)
        self.calls += 1
        return self.policy(obs)

    def keep(self, rows):
        self.policy.keep(rows)


def networks(task, n: int, balancing: bool, seed: int = 0):
    """n pure networks; with `balancing`, hidden unit 0 computes the controller and feeds the
    'push right' output (the built-in's only output, gym's action 1)."""
    spec = NetworkSpec(task.obs_size, task.act_size, (8,), "tanh")
    gen = torch.Generator().manual_seed(seed)
    params = torch.randn(n, spec.n_params, generator=gen) * (0.01 if balancing else 0.5)
    if balancing:
        layers = spec.unflatten(params)  # views into params
        layers["w0"][:, :, 0] += torch.tensor(CARTPOLE_CONTROLLER)
        layers["w1"][:, 0, task.act_size - 1] += 1.0
    return spec, params, task.initial_states(gen, n)


def measure(name: str, n: int, balancing: bool) -> tuple[float, int, int, float]:
    """(seconds of the timed evaluate, live env-steps in it, sub-env steps stepped in it
    (every sub-env, live or not, per time step), seconds of the warm-up)."""
    task = get_task(name)
    spec, params, starts = networks(task, n, balancing)
    with torch.inference_mode():
        t0 = time.perf_counter()
        task.evaluate(BatchedNetwork(spec, params), starts)  # warm-up: builds the vector envs
        warm = time.perf_counter() - t0
        policy = Counting(BatchedNetwork(spec, params))
        t0 = time.perf_counter()
        task.evaluate(policy, starts)
        seconds = time.perf_counter() - t0
    return seconds, policy.steps, policy.calls * n, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=1000)
    parser.add_argument("--mujoco", default="InvertedPendulum-v5")
    parser.add_argument("--mujoco-population", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    args = parse_args(parser, smoke={"population": 20, "mujoco_population": 4})
    torch.set_num_threads(args.threads)
    rows = [("cartpole", args.population, True), ("gym:CartPole-v1", args.population, True),
            (f"gym:{args.mujoco}", args.mujoco_population, False)]
    print(f"gym tasks: pure networks, hidden (8,), tanh, {args.threads} torch thread(s)")
    print(f"{'task':30} {'population':>10} {'env-steps':>10} {'seconds':>8} {'env-steps/s':>12} "
          f"{'stepped/s':>10} {'warm-up s':>9} {'vs cartpole':>11}")
    base = None
    for name, n, balancing in rows:
        seconds, steps, stepped, warm = measure(name, n, balancing)
        rate = steps / seconds
        base = base or rate
        print(f"{name:30} {n:>10,} {steps:>10,} {seconds:>8.2f} {rate:>12,.0f} "
              f"{stepped / seconds:>10,.0f} {warm:>9.2f} {rate / base:>11.2f}")
    if rows[0][1] == rows[1][1]:
        print("both CartPoles ran the same population of balancing networks, every episode 500 steps")


if __name__ == "__main__":
    main()
