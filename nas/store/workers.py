"""The worker registry `nas.workers`: who is running what, seen last when (database clock)."""
from __future__ import annotations

import socket

import sqlalchemy as sa

from nas.store.session import session_scope


def register(url: str, pid: int, threads: int, version: str) -> int:
    with session_scope(url) as session:
        return session.execute(sa.text(
            "INSERT INTO nas.workers (host, pid, threads, version) VALUES (:h, :p, :t, :v) RETURNING id"),
            {"h": socket.gethostname(), "p": pid, "t": threads, "v": version}).scalar_one()


def seen(url: str, worker_id: int, study_id: int | None = None, trial_id: int | None = None) -> None:
    with session_scope(url) as session:
        session.execute(sa.text(
            "UPDATE nas.workers SET last_seen = now(), current_study_id = :s, current_trial_id = :t "
            "WHERE id = :w"), {"s": study_id, "t": trial_id, "w": worker_id})


def stopped(url: str, worker_id: int) -> None:
    with session_scope(url) as session:
        session.execute(sa.text(
            "UPDATE nas.workers SET state = 'stopped', last_seen = now(), current_study_id = NULL, "
            "current_trial_id = NULL WHERE id = :w"), {"w": worker_id})


def beat(url: str, worker_id: int) -> None:
    with session_scope(url) as session:
        session.execute(sa.text("UPDATE nas.workers SET last_seen = now() WHERE id = :w"),
                        {"w": worker_id})
