"""Progress per study (the nas.progress view) and the worker registry: what `nas status`,
`nas study list` and the search progress bar show, from one source."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from nas.store.session import session_scope


def progress(url: str, name: str | None = None) -> list[dict]:
    sql = "SELECT * FROM nas.progress" + (" WHERE study = :n" if name else "")
    with session_scope(url) as session:
        return [dict(r) for r in session.execute(sa.text(sql), {"n": name}).mappings()]


@dataclass(frozen=True)
class Progress:
    """`finished` counts done claims: retried failures are not in it, as in the budget."""
    finished: int = 0
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0
    best: float | None = None


def study_progress(url: str, name: str) -> Progress:
    rows = progress(url, name)
    if not rows:
        return Progress()
    return Progress(**{k: rows[0][k] for k in Progress.__dataclass_fields__})


def live_workers(url: str, stale_after: float) -> list[dict]:
    """Running workers, each marked stale when its heartbeat is older than `stale_after` s."""
    with session_scope(url) as session:
        rows = session.execute(sa.text(
            "SELECT w.id, w.host, w.pid, w.threads, w.version, w.started_at, w.last_seen, "
            "extract(epoch FROM now() - w.last_seen) AS seen_seconds_ago, "
            "s.name AS study, t.number AS trial, "
            "extract(epoch FROM now() - w.last_seen) > :stale AS stale "
            "FROM nas.workers w LEFT JOIN nas.studies s ON s.id = w.current_study_id "
            "LEFT JOIN trials t ON t.trial_id = w.current_trial_id "
            "WHERE w.state = 'running' ORDER BY w.id"), {"stale": stale_after}).mappings()
        return [dict(r) for r in rows]
