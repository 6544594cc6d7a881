"""Compiled CPU episode kernels: a whole batch of episodes, network inside, per call.

The torch path steps every episode of a batch together, ~20-40 small tensor ops per
control step, each costing microseconds of overhead whatever the batch holds. Here one
compiled (numba) kernel per batch runs them all, a block of episodes in lockstep per
thread (episodes.py): pure networks (layered, Elman, fully recurrent; every activation of
the pure space) and NEAT networks (from their sparse genes, nothing padded; feed-forward
and recurrent), for cartpole, double-pole and double-pole-nv (the damping fitness and the
625-start champion test included).

Use: `nas.evolution.evaluators.evaluator_for(task, mode, device, engine)` picks the
`KernelEngine` (engine.py, an `Evaluator`) when the kernels serve the run: engine "kernel"
(the default, `$NAS_ENGINE`), a CPU device, a task whose `kernel()` is not None (it
declares one, and is neither subclassed nor patched: nas.evolution.tasks.base) and a mode
whose `kernel_networks()` is not None (float32 pure genomes, NEAT); else the torch path.

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
