"""Compiled CPU episode kernels: a whole batch of episodes, network inside, per call.

The torch path steps every episode of a batch together, ~20-40 small tensor ops per
control step, each costing microseconds of overhead whatever the batch holds. Here one
compiled (numba) kernel per batch runs each episode start to finish, one `prange` over
rows: pure networks (layered, Elman, fully recurrent; every activation of the pure space)
and NEAT networks (from their sparse genes, nothing padded; feed-forward and recurrent),
for cartpole, double-pole and double-pole-nv (the damping fitness and the 625-start
champion test included).

Use: `engine_for(task, mode, device, engine)` returns a `KernelEngine` when this batch can
take a kernel (engine "kernel", the default, `$NAS_ENGINE`; a CPU device; a task in
`registry.KERNELS` unchanged; float32 pure genomes or NEAT), else None: the torch path.

What equals what (tests/test_kernels.py):
  - within the kernel path: a row's result is bit-identical alone or batched, run to run
    and at any thread count (rows never interact);
  - against the torch path: the same float32 networks and float64 physics, operation
    for operation (physics.py, networks.py say where rounding can still differ: torch's
    vectorized transcendental functions, and BLAS for layers of in x out >= 400); the same
    episode lengths in the tests' populations and fitness within 1e-12 relative (damping)
    or equal (steps).

Threads and the compile cache: `_numba.py`; compiling once per machine: `warm.py`.
"""
from __future__ import annotations

import torch

from nas import defaults
from nas.errors import NasError
from nas.evolution.kernels.registry import KERNELS, task_kernel


def engine_for(task, mode, device: str = "cpu", engine: str | None = None):
    """A KernelEngine for (task, mode) on `device`, or None for the torch path."""
    engine = engine or defaults.engine()
    if engine not in defaults.ENGINES:
        raise NasError(f"unknown engine {engine!r}; choose from {', '.join(defaults.ENGINES)}")
    if engine != "kernel" or torch.device(device).type != "cpu" or task_kernel(task) is None:
        return None  # (checked before loading numba: most user tasks stop here)
    from nas.evolution.kernels.engine import build_engine
    from nas.evolution.kernels.warm import ensure_compiled

    built = build_engine(task, mode)
    if built is not None:
        ensure_compiled()  # first use in this process: load (or compile) every kernel
    return built


def replay_engine(task, data: dict) -> tuple[object, object] | None:
    """A kernel engine and the kernel's genomes for one stored genome (nas replay), or None
    where no kernel serves the task. Loads (or compiles) the kernels."""
    spec = task_kernel(task)
    if spec is None:
        return None
    from nas.evolution.kernels.engine import KernelEngine, NeatNetworks, PureNetworks
    from nas.evolution.kernels.warm import ensure_compiled

    if data.get("kind", "pure") == "neat":
        from nas.evolution.neat import NEATParams, genome_from_dict

        genome = genome_from_dict(data["genome"])
        networks = NeatNetworks(spec, genome.n_inputs, genome.n_outputs, NEATParams(**data["params"]))
        genomes = [genome]
    else:
        from nas.evolution.networks import NetworkSpec

        net = data["network"]
        networks = PureNetworks(spec, NetworkSpec(net["n_in"], net["n_out"], tuple(net["hidden"]),
                                                  net["activation"], net["recurrent"]))
        genomes = torch.tensor([data["params"]], dtype=torch.float32)
    ensure_compiled()
    return KernelEngine(task, networks), genomes


__all__ = ["KERNELS", "engine_for", "replay_engine", "task_kernel"]
