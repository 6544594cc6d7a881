"""Progress per study (the nas.progress and nas.running views): what `nas status`,
`nas study list` and the search progress bar show, from one source. The worker registry
with each worker's current trial number reads Optuna's `trials`, so it is in
nas.store.optuna_tables (`live_workers`)."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from nas.store import tables


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


def _view_rows(session, view, name: str | None) -> list[dict]:
    """Every row of a per-study view, or those of the study `name`."""
    query = sa.select(sa.literal_column("*")).select_from(view)
    if name is not None:
        query = query.where(view.c.study == name)
    return [dict(r) for r in session.execute(query).mappings()]


class StatusQueries:
    def progress(self, name: str | None = None) -> list[dict]:
        with self.transaction() as session:
            return _view_rows(session, tables.progress, name)

    def study_progress(self, name: str) -> Progress:
        rows = self.progress(name)
        if not rows:
            return Progress()
        return Progress(**{k: rows[0][k] for k in Progress.__dataclass_fields__})

    def running_trials(self, name: str | None = None) -> list[dict]:
        """Each running trial's current generation and value so far (nas.running)."""
        with self.transaction() as session:
            return _view_rows(session, tables.running, name)

    def interruptions(self, name: str | None = None) -> dict[str, dict[str, int]]:
        """Per study: attempts stopped on request (`preempted`) and attempts that continued
        a checkpoint (`resumed`), from the nas.trials view."""
        sql = ("SELECT study, count(*) FILTER (WHERE preempted) AS preempted, "
               "count(*) FILTER (WHERE resumed_from IS NOT NULL) AS resumed FROM nas.trials "
               + ("WHERE study = :n " if name is not None else "") + "GROUP BY study")
        with self.transaction() as session:
            return {r.study: {"preempted": r.preempted, "resumed": r.resumed}
                    for r in session.execute(sa.text(sql), {"n": name})}

    def tied_studies(self, name: str | None = None, least: int = 3) -> dict[str, tuple[int, float]]:
        """Studies whose `least` or more completed trials all have one value: {study:
        (completed trials, the value)} (nas.coordinator.ties says what that means)."""
        sql = ("SELECT s.study_name AS study, count(*) AS n, min(v.value) AS value FROM trials t "
               "JOIN studies s ON s.study_id = t.study_id "
               "JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0 "
               "WHERE t.state = 'COMPLETE' " + ("AND s.study_name = :n " if name is not None else "")
               + "GROUP BY s.study_name HAVING count(*) >= :least AND count(DISTINCT v.value) = 1")
        with self.transaction() as session:
            return {r.study: (r.n, r.value)
                    for r in session.execute(sa.text(sql), {"n": name, "least": least})}
