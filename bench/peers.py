"""nas against what a user would pick instead, per core: evosax/gymnax (JAX) on CartPole
and neat-python on NEAT, in one process pinned to one core, ratios printed.

  cartpole balancing  bench/engine.py's balancing population (every episode 500 steps)
  cartpole random     bench/engine.py's random population (short episodes)
  NEAT                bench/neat_vs_neat_python.py's runs (CartPole-v1, population 500),
                      per generation and reproduction alone

The cartpole rows run 1,500 MLPs 4-8-1 tanh (500 x 3 seeds), episodes up to 500 steps, on
CartPole-v1 physics through nas's compiled kernel, nas's torch path, and evosax's own
`GymnaxProblem` on gymnax's CartPole-v1 (jit, vmap over the population, `lax.scan` over the
500 steps: the way evosax runs a population), with the very same weights (the policy's
output > 0 pushes right, as nas's cartpole does; no observation normalization). Starts are
each side's own draw from the same distribution (uniform in [-0.05, 0.05]), so the mean
steps column shows both sides ran the same workload. JAX runs in its default float32; nas
in float64. One env-step is one network activation plus one physics step of an episode
that is still running: XLA's scan also steps finished episodes to the 500th step (masked),
which counts as no env-step.

One core: the process is pinned to one CPU (sched_setaffinity) before any library starts a
thread pool, torch and nas's kernels run 1 thread (nas's thread cap: torch's count), and
XLA is asked for one thread (`XLA_FLAGS`). Each figure is the best of `--repeats` timed
runs after a warm-up (compilation, or the kernel cache, outside the timing). Where the
extra is not installed (`pip install -e '.[peers]'`; neat-python: '.[bench]'), its row
says so and nas's side is still measured.
Run: python bench/peers.py [--population 500 --seeds 3 --neat-generations 15]
"""
from __future__ import annotations

import os

# Before torch, numba or jax load: they size their thread pools from what they see here.
# The affinity is what binds every thread (those started later inherit it) to one core;
# the flags only keep XLA from starting threads that would wait their turn on it.
CPU = min(os.sched_getaffinity(0))
os.sched_setaffinity(0, {CPU})
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {XLA_ONE_THREAD}".strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import importlib.metadata  # noqa: E402
import importlib.util  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402

import torch  # noqa: E402

from _support import parse_args  # noqa: E402
from engine import balancing_population, batched, kernel, population  # noqa: E402
from nas.evolution.tasks import get_task  # noqa: E402

JAX_PEER = "evosax/gymnax (JAX)"
JAX_EXTRA = ("jax", "gymnax", "evosax")
INSTALL = {"jax": "pip install -e '.[peers]'", "neat": "pip install -e '.[bench]'"}


def missing(*modules: str) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def best_of(repeats: int, runs: dict) -> dict[str, tuple[float, float]]:
    """{side: (fastest seconds, env-steps)} over `repeats` rounds of every side's
    `run() -> (seconds, steps)`, taken in turn so that a load that comes and goes on the
    machine falls on every side alike; a side's steps must be the same every round."""
    results = {side: [] for side in runs}
    for _ in range(repeats):
        for side, run in runs.items():
            results[side].append(run())
    best = {}
    for side, timed in results.items():
        steps = {s for _, s in timed}
        assert len(steps) == 1, f"{side}: repeated runs stepped differently: {sorted(steps)}"
        best[side] = (min(t for t, _ in timed), steps.pop())
    return best


class Evosax:
    """evosax's GymnaxProblem on gymnax CartPole-v1 with nas's 4-8-1 tanh networks."""

    def __init__(self):
        import jax
        import jax.numpy as jnp
        from evosax.problems import MLP, GymnaxProblem

        def push_right(x, key=None):  # nas's cartpole: output > 0 pushes right (action 1)
            return (x[..., 0] > 0).astype(jnp.int32)

        policy = MLP(layer_sizes=(8, 1), activation=jnp.tanh, output_fn=push_right)
        self.jax, self.jnp = jax, jnp
        self.problem = GymnaxProblem("CartPole-v1", policy, episode_length=500,
                                     use_normalize_obs=False)
        self.state = self.problem.init(jax.random.key(0))

    def solutions(self, spec, params: torch.Tensor):
        """nas's flat genomes as the flax parameter tree, population first."""
        layers = {k: self.jnp.asarray(v.numpy()) for k, v in spec.unflatten(params).items()}
        return {"params": {f"Dense_{i}": {"kernel": layers[f"w{i}"], "bias": layers[f"b{i}"]}
                           for i in range(len(spec.sizes) - 1)}}

    def run(self, solutions) -> tuple[float, float]:
        key = self.jax.random.key(1)  # the same starts every run
        t0 = time.perf_counter()
        fitness, _, _ = self.problem.eval(key, solutions, self.state)
        fitness.block_until_ready()
        return time.perf_counter() - t0, float(fitness.sum())  # fitness = steps survived


def cartpole_rows(args, peer: Evosax | None) -> list[dict]:
    task, n = get_task("cartpole"), args.population * args.seeds
    rows = []
    for kind, make in [("balancing", balancing_population), ("random", population)]:
        spec, params, starts = make(task, n)
        batched(task, spec, params[:50], starts[:50])  # warm-up
        kernel(task, spec, params[:50], starts[:50])  # compiles, or loads the cache
        runs = {"kernel": partial(kernel, task, spec, params, starts),
                "torch": partial(batched, task, spec, params, starts)}
        if peer is not None:
            solutions = peer.solutions(spec, params)
            peer.run(solutions)  # compiles (once: both populations have the same shape)
            runs["value"] = partial(peer.run, solutions)
        best = best_of(args.repeats, runs)
        assert best["kernel"][1] == best["torch"][1], f"{kind}: kernel vs torch steps: {best}"
        row = {"workload": f"cartpole {kind}", "unit": "env-steps/s", "peer": JAX_PEER,
               "steps": "/".join(f"{best[side][1] / n:.0f}" for side in ("kernel", "value")
                                 if side in best)}
        row.update({side: steps / seconds for side, (seconds, steps) in best.items()})
        rows.append(row)
    return rows


def neat_rows(args, have_neat_python: bool) -> list[dict]:
    """Generations per second, nas (kernel, torch) and neat-python, through
    bench/neat_vs_neat_python.py's own runs; a generation = evaluation + reproduction."""
    import neat_vs_neat_python as nvn

    pop, gens = args.neat_population, args.neat_generations
    runs = {"kernel": nvn.nas_neat(pop, gens, "kernel"), "torch": nvn.nas_neat(pop, gens, "torch")}
    if have_neat_python:
        runs["value"] = nvn.neat_python(pop, gens)
    whole, repro = {}, {}
    for side, (evals, repros, _) in runs.items():
        whole[side] = 1 / (statistics.mean(evals) + statistics.mean(repros))
        repro[side] = 1 / statistics.mean(repros)
    name = f"NEAT pop {pop}"
    return [{"workload": f"{name} generation", "unit": "generations/s", "peer": "neat-python",
             "steps": "-", **whole},
            {"workload": f"{name} reproduction", "unit": "generations/s", "peer": "neat-python",
             "steps": "-", **repro}]


def print_table(rows: list[dict], absent: dict[str, str]) -> None:
    print(f"{'workload, one core':28} {'unit':13} {'nas kernel':>12} {'nas torch':>12} "
          f"{'peer':20} {'peer':>13} {'nas/peer':>9} {'mean steps':>11}")
    for row in rows:
        fmt = "{:,.0f}" if row["unit"] == "env-steps/s" else "{:,.1f}"
        value = fmt.format(row["value"]) if "value" in row else "not installed"
        ratio = f"{row['kernel'] / row['value']:.2f}x" if "value" in row else "-"
        print(f"{row['workload']:28} {row['unit']:13} {fmt.format(row['kernel']):>12} "
              f"{fmt.format(row['torch']):>12} {row['peer']:20} {value:>13} {ratio:>9} "
              f"{row['steps']:>11}")
    print("nas/peer = nas kernel / peer (higher: nas faster); mean steps: nas/peer episode "
          "length (the same workload on both sides)")
    for peer, how in absent.items():
        print(f"{peer} not installed ({how}): its rows measured nas's side only")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--neat-population", type=int, default=500)
    parser.add_argument("--neat-generations", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=10)
    args = parse_args(parser, smoke={"population": 20, "seeds": 1, "neat_population": 20,
                                     "neat_generations": 2, "repeats": 2})
    torch.set_num_threads(1)  # nas's thread cap: its kernels launch torch's count
    absent = {}
    if missing(*JAX_EXTRA):
        absent[JAX_PEER] = f"missing {', '.join(missing(*JAX_EXTRA))}: {INSTALL['jax']}"
    if missing("neat"):
        absent["neat-python"] = INSTALL["neat"]
    peer = None if JAX_PEER in absent else Evosax()
    rows = cartpole_rows(args, peer) + neat_rows(args, "neat-python" not in absent)
    versions = "" if peer is None else (f"; evosax {importlib.metadata.version('evosax')}, "
                                        f"gymnax {importlib.metadata.version('gymnax')}, "
                                        f"jax {peer.jax.__version__}")
    print(f"peers: pinned to CPU {CPU} (1 thread each: torch, nas kernels, XLA){versions}; "
          f"cartpole: {args.population * args.seeds} MLPs 4-8-1 tanh ({args.population} x "
          f"{args.seeds} seeds), best of {args.repeats}; NEAT: {args.neat_generations} generations")
    print_table(rows, absent)


if __name__ == "__main__":
    main()
