"""The worker registry `nas.workers`: who is running what, in which state, seen last when
(database clock)."""
from __future__ import annotations

import socket
from enum import Enum

import sqlalchemy as sa


class WorkerState(str, Enum):
    """A worker's lifecycle, stored as the plain string in `nas.workers.state`."""
    IDLE = "idle"
    BUSY = "busy"
    STOPPING = "stopping"
    STOPPED = "stopped"


class WorkerQueries:
    def register_worker(self, pid: int, threads: int, version: str) -> int:
        with self.transaction() as session:
            return session.execute(sa.text(
                "INSERT INTO nas.workers (host, pid, threads, version, state) "
                "VALUES (:h, :p, :t, :v, :st) RETURNING id"),
                {"h": socket.gethostname(), "p": pid, "t": threads, "v": version,
                 "st": WorkerState.IDLE.value}).scalar_one()

    def worker_seen(self, worker_id: int, state: WorkerState, study_id: int | None = None,
                    trial_id: int | None = None) -> None:
        """The worker's state and what it runs now (nothing: study and trial None)."""
        with self.transaction() as session:
            session.execute(sa.text(
                "UPDATE nas.workers SET last_seen = now(), state = :st, current_study_id = :s, "
                "current_trial_id = :t WHERE id = :w"),
                {"st": WorkerState(state).value, "s": study_id, "t": trial_id, "w": worker_id})

    def worker_beat(self, worker_id: int, stopping: bool = False) -> None:
        """The heartbeat: seen now, and `stopping` once a stop was asked for."""
        with self.transaction() as session:
            session.execute(sa.text(
                "UPDATE nas.workers SET last_seen = now(), state = CASE WHEN :stopping "
                "AND state <> 'stopped' THEN 'stopping' ELSE state END WHERE id = :w"),
                {"w": worker_id, "stopping": stopping})
