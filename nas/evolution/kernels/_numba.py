"""numba, set up once for nas's kernels; every kernel module imports numba through here.

Threads. Each kernel launch uses `torch.get_num_threads()` threads (the worker's
--threads), through numba's `omp` threading layer where a libgomp.so.1.0.0 can be loaded
(numba's omppool asks for that name: on Debian, the system's libgomp1; torch's wheel ships
its own libgomp.so.1 beside it, so a process then holds two OpenMP runtimes, each pool
started only when used: the kernels' on the kernel path, torch's where torch parallelizes
an op), else through numba's `workqueue` layer (the slim image). `NUMBA_NUM_THREADS`
defaults to torch's thread count (the worker's caps set both), and torch's count is put
back if numba's first launch changed it. The /proc thread test checks a worker on each
engine stays within threads + 2.

Cache. Compiled kernels are cached on disk (`cache=True`) under `kernel_cache_dir()`
(or NUMBA_CACHE_DIR): the first process on a machine compiles, the rest load. numba
invalidates a cached kernel only when the file defining it changes, not when a function it
inlines from another file does, nor a task constant it froze in; so the cache lives in a
subdirectory named by a hash of every source it depends on (`SOURCES`), and a changed nas
compiles afresh instead of loading stale code. No fastmath anywhere: the kernels must
round like the torch path does.

Vector width. On CPUs with AVX-512, LLVM's tuning for Intel server cores prefers 256-bit
vectors (`prefer-256-bit`), so the lockstep kernels' 16-lane float32 and 8-lane float64
loops would run as two or four ymm instructions each; nas's kernels ask for the host's
features minus that preference (`KERNEL_CPU_FEATURES`), so they run in zmm. Lanes are
independent elementwise IEEE operations, so the width changes no bit (the tests compare
batches, thread counts and the torch path). numba keys its cache on the CPU name and
these features (its codegen's magic tuple), so a cache compiled here is never loaded by
a machine with other features. A NUMBA_CPU_FEATURES set by the user wins. numba reads the
setting once, when its CPU target first compiles, so it is set right after numba loads.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import torch  # noqa: F401  (first: NUMBA_NUM_THREADS defaults to its thread count)

from nas import defaults
from nas.evolution.kernels.cache import kernel_cache_dir

if "numba" not in sys.modules:
    os.environ.setdefault(defaults.KERNEL_POOL_ENV, str(torch.get_num_threads()))

import numba  # noqa: E402
from llvmlite import binding as _llvm  # noqa: E402

_HERE = Path(__file__).resolve().parent
SOURCES = sorted(_HERE.glob("*.py")) + [_HERE.parent / "tasks" / name for name in
                                        ("base.py", "cartpole.py", "double_pole.py")]
SOURCES += sorted((_HERE.parent / "neat").glob("_compiled*.py"))  # NEAT's compiled reproduction


def _sources_hash() -> str:
    """numba, the sources' text and where they live (numba files a cached kernel under its
    source's path, so another checkout of the same nas has its own kernels)."""
    digest = hashlib.sha256(numba.__version__.encode() + b"\0" + str(_HERE).encode())
    for path in SOURCES:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


numba.config.CACHE_DIR = str(Path(os.environ.get("NUMBA_CACHE_DIR") or kernel_cache_dir())
                             / _sources_hash())
if not os.environ.get("NUMBA_THREADING_LAYER"):
    numba.config.THREADING_LAYER = "default"
    numba.config.THREADING_LAYER_PRIORITY = ["omp", "workqueue", "tbb"]



def kernel_cpu_features() -> str | None:
    """The host's CPU features for LLVM, with `-prefer-256-bit` where it has AVX-512
    (None: numba's own choice, the host's features)."""
    try:
        features = _llvm.get_host_cpu_features().flatten()
    except RuntimeError:  # LLVM cannot tell on this host
        return None
    return f"{features},-prefer-256-bit" if "+avx512f" in features.split(",") else None


if numba.config.CPU_FEATURES is None and numba.config.ENABLE_AVX:  # no user setting
    numba.config.CPU_FEATURES = kernel_cpu_features()

prange = numba.prange


def jit(**options):
    """`numba.njit` with nas's options: cached, never fastmath, errors as exceptions."""
    return numba.njit(cache=True, fastmath=False, error_model="numpy", **options)


def use_torch_threads() -> int:
    """Size the next kernel launch to torch's thread count (the worker's --threads);
    returns it."""
    wanted = torch.get_num_threads()
    n = max(1, min(wanted, numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(n)  # the first call starts the threading layer
    if torch.get_num_threads() != wanted:  # numba's start resized the shared OpenMP pool
        torch.set_num_threads(wanted)
    return n


def threading_layer() -> str:
    use_torch_threads()
    return numba.threading_layer()
