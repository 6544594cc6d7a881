"""Env-steps per second of pure mode: the compiled CPU kernels, the batched torch path,
and a per-individual loop, in one run.

One "env-step" is one network activation plus one physics step of one individual. The
torch path evaluates a whole population (all seeds) as one tensor per time step; the
kernel path (nas.evolution.kernels, the CPU default) runs a block of episodes per thread
in lockstep across SIMD lanes, network inside, timed as the best of --repeats calls
interleaved across the thread counts; the baseline runs the same networks and physics
one individual at a time in Python, as a per-genome evaluation loop would. All run the
same episodes (same starts, same weights): per-individual and torch step counts must
agree exactly (checked); the kernel's total is printed beside torch's (`same`: equal).

`ceiling` is the FLOP-bound limit of this machine for the same work: FLOPs per env-step
(counted below: 2 per multiply-add, 20 per tanh / sin / cos / exp, 1 per other op) over
the threads' peak (16 float64 FLOPs per cycle per core: two 4-wide FMA units, at the
clock /proc/cpuinfo reports; a lockstep kernel with 8-wide vectors can pass it, as the
count charges a vectorized sin like a scalar one): a yardstick across tasks.
The balancing rows run networks that keep every episode up to its end (1,000 steps on the
double pole, whose own limit is 100,000): the per-step speed once a population is good.
Run: python bench/engine.py [--tasks cartpole] [--threads 1 2] [--population 500 --seeds 3]
"""
from __future__ import annotations

import argparse
import time

import torch

from _support import ROOT, parse_args  # noqa: F401  (ROOT: puts the project on sys.path)
from nas.evolution.kernels.engine import KernelEngine, PureNetworks
from nas.evolution.networks import BatchedNetwork, NetworkSpec
from nas.evolution.tasks import TASKS, get_task

TRANSCENDENTAL = 20  # FLOPs charged per tanh, sin, cos, exp
# physics FLOPs per control step, transcendental functions included: cartpole (sin, cos,
# ~20 ops); double pole (2 RK4 steps x 4 derivative evaluations x (4 trig + ~30 ops) +
# ~40 ops of RK4 updates, plus the sigmoid force)
PHYSICS_FLOPS = {"cartpole": 2 * TRANSCENDENTAL + 20,
                 "double-pole": 2 * (4 * (4 * TRANSCENDENTAL + 30) + 40) + TRANSCENDENTAL + 4}
PEAK_FLOPS_PER_CYCLE = 16  # float64, per core: two 4-wide FMA units


def clock_hz() -> float:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) * 1e6
    except OSError:
        pass
    return 2.5e9  # assumed where /proc/cpuinfo says nothing


def flops_per_step(task_name: str, spec: NetworkSpec) -> int:
    macs = sum(a * b for a, b in zip(spec.sizes, spec.sizes[1:]))
    hidden = sum(spec.sizes[1:-1])
    return 2 * macs + hidden * TRANSCENDENTAL + PHYSICS_FLOPS[task_name]


def population(task, n: int, hidden=(8,), seed: int = 0):
    spec = NetworkSpec(task.obs_size, task.act_size, hidden, "tanh")
    gen = torch.Generator().manual_seed(seed)
    params = torch.randn(n, spec.n_params, generator=gen) * 0.5
    starts = task.initial_states(gen, n)
    return spec, params, starts


# Controllers that balance every start, as (first hidden unit's input weights, its bias,
# output weight): CartPole's pushes toward the fall; the double pole's is a bang-bang
# controller a nas CMA-ES run found (no hidden layer, seed 2), its sign through a
# saturated tanh unit and a steep output.
BALANCING = {"cartpole": ([0.1, 0.5, 10.0, 2.0], 0.0, 1.0),
             "double-pole": ([-2.011, -5.403, -8.083, -19.514, 6.824, 2.542, -11.086], 5.852,
                             20.0)}
# The double pole's episodes last 100,000 steps; the row caps them so it takes seconds.
BALANCING_STEPS = {"double-pole": 1_000}


def balancing_population(task, n: int, hidden=(8,), seed: int = 0):
    """Networks whose first hidden unit computes a balancing controller (plus noise), so
    every episode runs its full length: the engine's throughput with a full batch."""
    spec = NetworkSpec(task.obs_size, task.act_size, hidden, "tanh")
    gen = torch.Generator().manual_seed(seed)
    params = torch.randn(n, spec.n_params, generator=gen) * 0.01
    layers = spec.unflatten(params)  # views into params
    weights, bias, gain = BALANCING[task.name]
    layers["w0"][:, :, 0] += torch.tensor(weights)
    layers["b0"][:, 0] += bias
    layers["w1"][:, 0, 0] += gain
    if task.name in BALANCING_STEPS:
        task.max_steps = BALANCING_STEPS[task.name]  # this instance only
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


def kernel(task, spec, params, starts) -> tuple[float, int]:
    engine = KernelEngine(task, PureNetworks(task.kernel(), spec))
    t0 = time.perf_counter()
    fitness = engine.evaluate([params], starts)
    return time.perf_counter() - t0, int(fitness.sum())


def kernel_by_threads(task, spec, params, starts, threads: list[int],
                      repeats: int) -> dict[int, tuple[float, int]]:
    """{threads: (best seconds, steps)} over `repeats` rounds, each round timing every
    thread count in turn: a call takes milliseconds, so one reading moves with whatever
    else the machine does, and interleaving keeps a slow spell from landing on one
    thread count only (the 2-thread / 1-thread ratio is what the rows compare)."""
    best: dict[int, tuple[float, int]] = {}
    for _ in range(repeats):
        for n in threads:
            torch.set_num_threads(n)
            seconds, steps = kernel(task, spec, params, starts)
            if n not in best or seconds < best[n][0]:
                best[n] = (seconds, steps)
    return best


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
    parser.add_argument("--tasks", nargs="+", default=[t for t in TASKS if not t.startswith("double-pole-nv")])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--population", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--baseline-individuals", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=20,
                        help="rounds of kernel calls timed (the best kept)")
    args = parse_args(parser, smoke={"population": 20, "seeds": 1, "baseline_individuals": 5,
                                     "repeats": 1})
    n = args.population * args.seeds
    print(f"engine: pure mode, hidden (8,), tanh, {n} individuals ({args.population} x {args.seeds} seeds)")
    print(f"{'task':12} {'population':10} {'threads':>7} {'mean steps':>10} {'per-indiv/s':>12} "
          f"{'torch/s':>12} {'kernel/s':>12} {'same':>5} {'ceiling/s':>13} {'ratio':>6}")
    kinds = []
    for name in args.tasks:
        kinds.append((name, "random", population))
        if name in BALANCING:
            kinds.append((name, "balancing", balancing_population))
    for name, kind, make in kinds:
        task = get_task(name)
        spec, params, starts = make(task, n)
        kernel(task, spec, params[:50], starts[:50])  # compiles, or loads the cache
        fastest_of = kernel_by_threads(task, spec, params, starts, args.threads, args.repeats)
        for threads in args.threads:
            torch.set_num_threads(threads)
            batched(task, spec, params[:50], starts[:50])  # warm-up
            seconds, steps = batched(task, spec, params, starts)
            k_seconds, k_steps = fastest_of[threads]
            k = args.baseline_individuals
            ref_seconds, ref_steps = per_individual(task, spec, params, starts, k)
            _, check = batched(task, spec, params[:k], starts[:k])
            assert check == ref_steps, f"{name}: batched {check} steps vs per-individual {ref_steps}"
            slow, fast, fastest = ref_steps / ref_seconds, steps / seconds, k_steps / k_seconds
            ceiling = threads * clock_hz() * PEAK_FLOPS_PER_CYCLE / flops_per_step(name, spec)
            same = "yes" if k_steps == steps else f"{k_steps - steps:+d}"
            print(f"{name:12} {kind:10} {threads:>7} {steps / n:>10.0f} {slow:>12,.0f} "
                  f"{fast:>12,.0f} {fastest:>12,.0f} {same:>5} {ceiling:>13,.0f} "
                  f"{fastest / fast:>6.1f}")
    print("ratio = kernel / torch env-steps per second; ceiling: FLOP-bound limit (see the "
          "module docstring for what it assumes)")


if __name__ == "__main__":
    main()
