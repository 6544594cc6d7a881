"""Env-steps per second of pure mode: the batched engine against a per-individual loop.

One "env-step" is one network activation plus one physics step of one individual. The
batched engine evaluates a whole population (all seeds) as one tensor per time step;
the baseline runs the same networks and the same physics one individual at a time in
Python, as a per-genome evaluation loop would. Both run the same episodes (same
starts, same weights), so their step counts must agree exactly; the bench checks it.
Run: python bench/engine.py [--tasks cartpole] [--threads 1 2] [--population 500 --seeds 3]
"""
from __future__ import annotations

import argparse
import time

import torch

from _support import ROOT, parse_args  # noqa: F401  (ROOT: puts the project on sys.path)
from nas.evolution.networks import BatchedNetwork, NetworkSpec
from nas.evolution.tasks import TASKS, get_task


def population(task, n: int, hidden=(8,), seed: int = 0):
    spec = NetworkSpec(task.obs_size, task.act_size, hidden, "tanh")
    gen = torch.Generator().manual_seed(seed)
    params = torch.randn(n, spec.n_params, generator=gen) * 0.5
    starts = task.initial_states(gen, n)
    return spec, params, starts


# A linear controller that balances CartPole from every start (push toward the fall).
CARTPOLE_CONTROLLER = [0.1, 0.5, 10.0, 2.0]


def balancing_population(task, n: int, hidden=(8,), seed: int = 0):
    """Networks whose first hidden unit computes a balancing controller (plus noise), so
    every episode runs its full length: the engine's throughput with a full batch."""
    spec = NetworkSpec(task.obs_size, task.act_size, hidden, "tanh")
    gen = torch.Generator().manual_seed(seed)
    params = torch.randn(n, spec.n_params, generator=gen) * 0.01
    layers = spec.unflatten(params)  # views into params
    layers["w0"][:, :, 0] += torch.tensor(CARTPOLE_CONTROLLER)
    layers["w1"][:, 0, 0] += 1.0
    return spec, params, task.initial_states(gen, n)


def batched(task, spec, params, starts, device: str = "cpu") -> tuple[float, int]:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.inference_mode():  # as run_evolution evaluates
        fitness = task.evaluate(BatchedNetwork(spec, params.to(device)), starts.to(device))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t0, int(fitness.sum())  # fitness = steps survived


def per_individual(task, spec, params, starts, limit: int) -> tuple[float, int]:
    """The same episodes, one individual at a time (a per-genome Python loop), under the
    same inference mode as the batched engine so only the batching differs."""
    t0, steps = time.perf_counter(), 0
    with torch.inference_mode():
        for i in range(min(limit, len(params))):
            net = BatchedNetwork(spec, params[i:i + 1])
            state = starts[i:i + 1].to(task.dtype)
            for _ in range(task.max_steps):
                state, failed = task.step(state, net(task.observe(state)))
                steps += 1
                if bool(failed[0]):
                    break
    return time.perf_counter() - t0, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # double-pole-nv scores damping, not steps survived, so its steps are not its fitness
    parser.add_argument("--tasks", nargs="+", default=[t for t in TASKS if t != "double-pole-nv"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--population", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--baseline-individuals", type=int, default=60)
    args = parse_args(parser, smoke={"population": 20, "seeds": 1, "baseline_individuals": 5})
    n = args.population * args.seeds
    print(f"engine: pure mode, hidden (8,), tanh, {n} individuals ({args.population} x {args.seeds} seeds)")
    print(f"{'task':14} {'population':10} {'threads':>7} {'mean steps':>10} {'batched steps/s':>16} "
          f"{'per-individual steps/s':>23} {'ratio':>7}")
    kinds = [(name, "random", population) for name in args.tasks]
    kinds.insert(1, ("cartpole", "balancing", balancing_population))
    for name, kind, make in kinds:
        task = get_task(name)
        spec, params, starts = make(task, n)
        for threads in args.threads:
            torch.set_num_threads(threads)
            batched(task, spec, params[:50], starts[:50])  # warm-up
            seconds, steps = batched(task, spec, params, starts)
            k = args.baseline_individuals
            ref_seconds, ref_steps = per_individual(task, spec, params, starts, k)
            _, check = batched(task, spec, params[:k], starts[:k])
            assert check == ref_steps, f"{name}: batched {check} steps vs per-individual {ref_steps}"
            fast, slow = steps / seconds, ref_steps / ref_seconds
            print(f"{name:14} {kind:10} {threads:>7} {steps / n:>10.0f} {fast:>16,.0f} {slow:>23,.0f} "
                  f"{fast / slow:>7.1f}")


if __name__ == "__main__":
    main()
