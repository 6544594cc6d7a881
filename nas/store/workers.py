"""The worker registry `nas.workers`: who is running what, in which state, seen last when
(database clock)."""
from __future__ import annotations

import socket
from enum import Enum

import sqlalchemy as sa

from nas.store.tables import workers


class WorkerState(str, Enum):
    """A worker's lifecycle, stored as the plain string in `nas.workers.state`."""
    IDLE = "idle"
    BUSY = "busy"
    COMPILING = "compiling"  # the CPU kernels, once per machine, before its first trial
    STOPPING = "stopping"
    STOPPED = "stopped"


class WorkerQueries:
    def register_worker(self, pid: int, threads: int, version: str) -> int:
        with self.transaction() as session:
            return session.execute(sa.insert(workers).values(
                host=socket.gethostname(), pid=pid, threads=threads, version=version,
                state=WorkerState.IDLE.value).returning(workers.c.id)).scalar_one()

    def worker_seen(self, worker_id: int, state: WorkerState, study_id: int | None = None,
                    trial_id: int | None = None) -> None:
        """The worker's state and what it runs now (nothing: study and trial None)."""
        with self.transaction() as session:
            session.execute(sa.update(workers).where(workers.c.id == worker_id).values(
                last_seen=sa.func.now(), state=WorkerState(state).value,
                current_study_id=study_id, current_trial_id=trial_id))

    def worker_beat(self, worker_id: int, stopping: bool = False) -> None:
        """The heartbeat: seen now, and `stopping` once a stop was asked for."""
        with self.transaction() as session:
            asked = sa.and_(sa.literal(stopping), workers.c.state != WorkerState.STOPPED.value)
            session.execute(sa.update(workers).where(workers.c.id == worker_id).values(
                last_seen=sa.func.now(),
                state=sa.case((asked, WorkerState.STOPPING.value), else_=workers.c.state)))
