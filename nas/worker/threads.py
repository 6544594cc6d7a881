"""Thread caps, applied before torch (or numpy) is imported.

`threads` is a cap: torch uses at most that many intra-op threads, and never more than
the machine's cores.

The failure this product exists to fix: one process per core count of OpenMP/MKL
threads, times several Optuna threads, times torch's inter-op pool. A worker gets
`threads` intra-op threads for torch (OpenMP/MKL), one inter-op thread, and one BLAS
thread for numpy (Optuna's samplers only do small array math), so its OS thread count
stays at `threads` plus a small constant.
"""
from __future__ import annotations

import os
import sys

from nas.defaults import ENV_THREADS, thread_env


def cap_threads(threads: int) -> None:
    """Set the environment, then import torch and size its pools. Call once, early."""
    for module in ("torch", "numpy"):
        if module in sys.modules and os.environ.get(ENV_THREADS) != str(threads):
            raise RuntimeError(f"{module} was imported before the thread cap was set")
    os.environ.update(thread_env(threads))
    import torch

    # torch sizes its OpenMP pool from OMP_NUM_THREADS, clamped to the cores. Call
    # set_num_threads only when that is above the cap: it also starts an idle pthreadpool
    # of threads-1, doubling the OS thread count for nothing.
    if torch.get_num_threads() > threads:
        torch.set_num_threads(threads)
    if torch.get_num_interop_threads() != 1:
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already started by an earlier call in this process
            pass


def os_thread_count(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/task"))
