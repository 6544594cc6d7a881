"""Progress per study (the nas.progress view) and the worker registry: what `nas status`,
`nas study list` and the search progress bar show, from one source."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa


@dataclass(frozen=True)
class Progress:
    """`finished` counts done claims: the budget's unit. `failed` counts every FAIL trial;
    `retried` those of them whose retry was queued, which are outside the budget.
    Generations count every seed's (budget x generations x seeds in all), stopped seeds
    as done, running trials by the generations they reported."""
    finished: int = 0
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    retried: int = 0
    running: int = 0
    waiting: int = 0
    best: float | None = None
    generations_done: int = 0
    generations_total: int = 0
    eta: object = None  # a timedelta, or None before any rate is known

    @property
    def counted_failures(self) -> int:
        return self.failed - self.retried


class StatusQueries:
    def progress(self, name: str | None = None) -> list[dict]:
        sql = "SELECT * FROM nas.progress" + (" WHERE study = :n" if name is not None else "")
        with self.transaction() as session:
            return [dict(r) for r in session.execute(sa.text(sql), {"n": name}).mappings()]

    def study_progress(self, name: str) -> Progress:
        rows = self.progress(name)
        if not rows:
            return Progress()
        return Progress(**{k: rows[0][k] for k in Progress.__dataclass_fields__})

    def running_trials(self, name: str | None = None) -> list[dict]:
        """Each running trial's current generation and value so far (nas.running)."""
        sql = "SELECT * FROM nas.running" + (" WHERE study = :n" if name is not None else "")
        with self.transaction() as session:
            return [dict(r) for r in session.execute(sa.text(sql), {"n": name}).mappings()]

    def live_workers(self, stale_after: float) -> list[dict]:
        """Workers not stopped, each marked stale when its heartbeat is older than
        `stale_after` s."""
        with self.transaction() as session:
            rows = session.execute(sa.text(
                "SELECT w.id, w.host, w.pid, w.threads, w.version, w.state, w.started_at, "
                "w.last_seen, extract(epoch FROM now() - w.last_seen) AS seen_seconds_ago, "
                "s.name AS study, t.number AS trial, "
                "extract(epoch FROM now() - w.last_seen) > :stale AS stale "
                "FROM nas.workers w LEFT JOIN nas.studies s ON s.id = w.current_study_id "
                "LEFT JOIN trials t ON t.trial_id = w.current_trial_id "
                "WHERE w.state <> 'stopped' ORDER BY w.id"), {"stale": stale_after}).mappings()
            return [dict(r) for r in rows]
