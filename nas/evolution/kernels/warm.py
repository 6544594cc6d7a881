"""Compile every kernel into the on-disk cache once per machine, under a lock.

The first kernel call of a process runs `ensure_compiled()`: with an exclusive lock on the
cache directory it calls each kernel once (compiling it, ~1 min on a cold cache, or
loading it, ~0.5 s), so 24 workers starting together on a fresh machine compile once, not
24 times over. `python -m nas.evolution.kernels` does the same ahead of time (the image
build runs it, so containers start warm) and says where the cache is and how long it took.
"""
from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

_compiled = False
READY = "complete"  # written into the cache once every kernel is in it


def warm() -> None:
    """One tiny call of each kernel: its argument types are always the same, whatever the
    task or network, so this compiles (or loads) everything a run will use. The NEAT
    kernel compiles in a second process meanwhile (each takes about a minute, LLVM is
    single-threaded): a cold machine waits for the slower one, not for both in turn."""
    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.DEVNULL)
    warm_part("pure")
    if child.wait() != 0:  # (whatever failed there, compiling here says it plainly)
        warm_part("neat")


# The child must not take the cache lock its parent holds (ensure_compiled would wait on it).
_CHILD = ("import nas.evolution.kernels.warm as w\n"
          "w._compiled = True\n"
          "w.warm_part('neat')\n")


def warm_part(mode_name: str) -> None:
    """Compile (or load) the kernels of one mode: "pure" (with the physics-only kernel the
    torch path's tests use) or "neat"."""
    from nas.evolution.config import EvolutionConfig
    from nas.evolution.kernels.engine import KernelEngine
    from nas.evolution.modes import MODES
    from nas.evolution.tasks import get_task

    task = get_task("double-pole-nv")
    cfg = EvolutionConfig.from_dict({"task": task.name, "mode": mode_name, "population": 2,
                                     "hidden": [2], "recurrent": "full"}
                                    if mode_name == "pure" else
                                    {"task": task.name, "mode": "neat", "population": 2})
    mode = MODES[mode_name](cfg, task)
    state = mode.algorithm.init(torch.Generator().manual_seed(0))
    engine = KernelEngine(task, mode.kernel_networks(task.kernel()))
    engine.evaluate([mode.algorithm.ask(state)], task.initial_states(torch.Generator(), 2))
    if mode_name == "neat":  # NEAT's compiled reproduction (neat/_compiled*.py), ~40 s cold
        mode.algorithm.tell(state, torch.zeros(2), torch.Generator())
    if mode_name == "pure":
        from nas.evolution.kernels.episodes import physics_steps

        physics_steps(0, 0.0, 0.0, 0.0, 0.0, np.zeros((1, 4)), np.zeros(1, np.float32),
                      np.zeros(1, np.bool_))


COMPILING = "compiling the CPU kernels, once per machine: about 80 s"


def compiles_first(task: str, objective: str | None, engine: str, device: str | None) -> bool:
    """Whether nas's own evolution of `task` here would first compile the kernels (a
    built-in task on the CPU kernel engine, on a machine whose cache lacks them)."""
    from nas.evolution import catalog

    if objective or not catalog.is_builtin(task) or engine != "kernel" or (device or "cpu") != "cpu":
        return False
    return not kernels_ready()


def kernels_ready() -> bool:
    """Whether this machine's cache holds every kernel (a worker starting now loads them in
    seconds rather than compiling for about a minute): what `nas search` tells its user."""
    from nas.evolution.kernels import _numba

    return (Path(_numba.numba.config.CACHE_DIR) / READY).exists()


def ensure_compiled() -> None:
    """Once per process: every kernel compiled or loaded, one process per machine compiling
    at a time (the others wait on the lock, then load what it wrote)."""
    global _compiled
    if _compiled:
        return
    _compiled = True  # (warm() itself builds kernel evaluators)
    from nas.evolution.kernels import _numba

    cache = Path(_numba.numba.config.CACHE_DIR)
    cache.mkdir(mode=0o700, parents=True, exist_ok=True)
    _seed_from_image(cache)
    ready = cache / READY
    if ready.exists():  # numba loads each kernel when first called (~0.2 s each)
        return
    with open(cache / "compile.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not ready.exists():  # (another process may have compiled while we waited)
                warm()
                ready.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _seed_from_image(cache: Path) -> None:
    """A container with a read-only root cannot use the cache its image baked (numba needs a
    writable cache): copy that one in, when the writable cache is still empty."""
    from nas import defaults

    baked = defaults.baked_kernel_cache()
    if baked is None or not (baked / cache.name / READY).exists() or (cache / READY).exists():
        return
    shutil.copytree(baked / cache.name, cache, dirs_exist_ok=True)


def main() -> None:
    from nas.evolution.kernels import _numba

    started = time.perf_counter()
    ensure_compiled()
    print(f"kernels ready in {time.perf_counter() - started:.1f} s "
          f"(cache: {_numba.numba.config.CACHE_DIR}, threading layer: {_numba.threading_layer()})")
