"""The worker's settings, resolved once when `nas worker` starts and passed as a value.

Flags and environment variables are read here, through nas.defaults (names, defaults and
parsing), and nowhere later: the loop, the trial and the objective receive what they need
from this object. Only the thread caps are also written to the environment, because
torch, OpenMP and numba read them there before nas code runs (nas.worker.threads).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nas import defaults


@dataclass(frozen=True)
class WorkerSettings:
    threads: int
    device: str = "cpu"
    engine: str = "kernel"         # CPU evaluation engine: kernel or torch
    heartbeat_interval: int = 10   # s between Optuna's trial beats and nas's worker beats
    heartbeat_grace: int = 60      # s unseen before a worker counts as dead
    max_retry: int = 3             # re-queues along one trial's lineage
    serve_poll: float = 5.0        # s between looks for new work with --serve
    db_retry_seconds: float = 600.0  # how long a database outage is ridden out
    health_file: Path | None = None  # touched on every beat that reached the database
    checkpoint_seconds: float | None = 60.0  # trial time between checkpoints (0: every
    # generation; None: no checkpoints, an interrupted trial restarts from generation 0)

    @classmethod
    def resolve(cls, threads: int, device: str) -> "WorkerSettings":
        """Threads and device as the CLI resolved them; everything else from the
        environment, parsed once (one line for a bad value)."""
        return cls(threads=threads, device=device, engine=defaults.engine(),
                   heartbeat_interval=defaults.heartbeat_interval(),
                   heartbeat_grace=defaults.heartbeat_grace(), max_retry=defaults.max_retry(),
                   serve_poll=defaults.serve_poll(), db_retry_seconds=defaults.db_retry_seconds(),
                   health_file=defaults.health_file(),
                   checkpoint_seconds=defaults.checkpoint_seconds())
