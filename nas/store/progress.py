"""Per-study progress read straight from Optuna's tables (what the progress bar shows)."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from nas.store.session import session_scope


@dataclass(frozen=True)
class Progress:
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0
    best: float | None = None

    @property
    def finished(self) -> int:
        return self.complete + self.pruned + self.failed


def study_progress(url: str, optuna_study_id: int) -> Progress:
    with session_scope(url) as session:
        states = dict(session.execute(sa.text(
            "SELECT state::text, count(*) FROM trials WHERE study_id = :s GROUP BY state"),
            {"s": optuna_study_id}).all())
        best = session.execute(sa.text(
            "SELECT max(v.value) FROM trials t JOIN trial_values v ON v.trial_id = t.trial_id "
            "WHERE t.study_id = :s AND t.state = 'COMPLETE'"), {"s": optuna_study_id}).scalar()
    return Progress(states.get("COMPLETE", 0), states.get("PRUNED", 0), states.get("FAIL", 0),
                    states.get("RUNNING", 0), states.get("WAITING", 0), best)
