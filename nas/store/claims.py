"""Atomic budget claims: how W workers finish a study with exactly its budget.

A worker claims one slot before it asks Optuna for a trial. The claim row is inserted
only while `done + active < budget`, checked under a row lock on the study, so two
workers can never take the last slot together (Optuna's MaxTrialsCallback checks after
the fact and overshoots by up to W). A claim ends `done` when its trial finished
(COMPLETE, PRUNED or FAIL) and `released` when the attempt was interrupted and its trial
queued for retry: released slots are free again.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import sqlalchemy as sa

_TAKEN = "(SELECT count(*) FROM nas.claims c WHERE c.study_id = s.id AND c.state <> 'released')"
# Within one priority, the study with the fewest running trials goes first: every study
# of that priority gets workers, none starves behind an older one.
_RUNNING = "(SELECT count(*) FROM nas.claims c WHERE c.study_id = s.id AND c.state = 'active')"


class ClaimEnd(str, Enum):
    """How a claim ends; stored as the plain string in `nas.claims.state`."""
    DONE = "done"          # its trial finished: counts toward the budget
    RELEASED = "released"  # interrupted, its trial re-queued (or never asked): slot free again


def claim_end_for(state: str | None, was_retried: bool) -> ClaimEnd | None:
    """What a claim becomes given its trial's Optuna state (None: no trial yet); None while
    the trial runs. `was_retried` (a retry of the trial is queued) matters only for FAIL,
    so callers may skip asking for it otherwise."""
    if state is None:
        return ClaimEnd.RELEASED
    if state in ("RUNNING", "WAITING"):
        return None
    if state == "FAIL" and was_retried:
        return ClaimEnd.RELEASED
    return ClaimEnd.DONE


@dataclass(frozen=True)
class Claim:
    id: int
    study_id: int
    study_name: str


class ClaimQueries:
    def claim(self, study_ids: list[int], worker_id: int | None) -> Claim | None:
        """Take one slot from these studies: highest priority first, then the least served."""
        with self.transaction() as session:
            candidates = session.execute(sa.text(
                f"SELECT s.id, s.name FROM nas.studies s WHERE s.id = ANY(:ids) AND NOT s.paused "
                f"AND s.budget > {_TAKEN} ORDER BY s.priority DESC, {_RUNNING}, s.created_at, s.id"),
                {"ids": study_ids}).all()
            for study_id, name in candidates:
                # The row lock serialises claimers of one study. Recount in a *separate*
                # statement: under READ COMMITTED it takes a fresh snapshot after the lock
                # is granted, so it sees the claim the previous holder committed.
                session.execute(sa.text("SELECT 1 FROM nas.studies WHERE id = :id FOR UPDATE"),
                                {"id": study_id})
                has_room = session.execute(sa.text(
                    f"SELECT NOT s.paused AND s.budget > {_TAKEN} FROM nas.studies s WHERE s.id = :id"),
                    {"id": study_id}).scalar()
                if has_room:
                    claim_id = session.execute(sa.text(
                        "INSERT INTO nas.claims (study_id, worker_id) VALUES (:s, :w) RETURNING id"),
                        {"s": study_id, "w": worker_id}).scalar_one()
                    return Claim(claim_id, study_id, name)
        return None

    def bind_trial(self, claim_id: int, trial_id: int) -> None:
        with self.transaction() as session:
            session.execute(sa.text("UPDATE nas.claims SET trial_id = :t WHERE id = :c"),
                            {"t": trial_id, "c": claim_id})

    def finish_claim(self, claim_id: int, end: ClaimEnd) -> None:
        with self.transaction() as session:
            session.execute(sa.text(
                "UPDATE nas.claims SET state = :st, finished_at = now() "
                "WHERE id = :c AND state = 'active'"), {"st": ClaimEnd(end).value, "c": claim_id})

    def claim_counts(self, study_id: int) -> dict[str, int]:
        with self.transaction() as session:
            rows = session.execute(sa.text(
                "SELECT state, count(*) FROM nas.claims WHERE study_id = :s GROUP BY state"),
                {"s": study_id}).all()
        return {state: n for state, n in rows}

    def active_claims(self, study_ids: list[int]) -> int:
        with self.transaction() as session:
            return session.execute(sa.text(
                "SELECT count(*) FROM nas.claims WHERE state = 'active' AND study_id = ANY(:ids)"),
                {"ids": study_ids}).scalar_one()
