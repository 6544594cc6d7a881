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

from nas.store.tables import any_of, claims, studies


def _claims_of_study(*where) -> sa.ScalarSelect:
    """How many claims of the enclosing query's study pass `where`."""
    return (sa.select(sa.func.count()).select_from(claims)
            .where(claims.c.study_id == studies.c.id, *where).scalar_subquery())


_TAKEN = _claims_of_study(claims.c.state != "released")
# Within one priority, the study with the fewest running trials goes first: every study
# of that priority gets workers, none starves behind an older one.
_RUNNING = _claims_of_study(claims.c.state == "active")


class ClaimEnd(str, Enum):
    """How a claim ends; stored as the plain string in `nas.claims.state`."""
    DONE = "done"          # its trial finished: counts toward the budget
    RELEASED = "released"  # interrupted, its trial re-queued (or never asked): slot free again


def claim_end_for(state: str | None, was_retried: bool, orphan: bool = False) -> ClaimEnd | None:
    """What a claim becomes given its trial's Optuna state (None: no trial yet); None while
    the trial runs. `was_retried` (a retry of the trial is queued) matters only for FAIL,
    so callers may skip asking for it otherwise. A trial another worker failed as an
    orphan (created as the database went away, unbound when it came back) gave its
    budget back: its claim is released too, even when its own worker did start it."""
    if state is None:
        return ClaimEnd.RELEASED
    if state in ("RUNNING", "WAITING"):
        return None
    if state == "FAIL" and (was_retried or orphan):
        return ClaimEnd.RELEASED
    return ClaimEnd.DONE


def out_of_retries(attempts_before: int, progressed: int, max_retry: int) -> bool:
    """Whether a failed attempt's lineage may not be retried again: `attempts_before`
    attempts preceded it, `progressed` of all of them (it included) advanced the lineage's
    checkpoint, and only the others count against `max_retry`."""
    return attempts_before + 1 - progressed > max_retry


@dataclass(frozen=True)
class Claim:
    id: int
    study_id: int
    study_name: str


class ClaimQueries:
    def claim(self, study_ids: list[int], worker_id: int | None) -> Claim | None:
        """Take one slot from these studies: highest priority first, then the least served."""
        with self.transaction() as session:
            candidates = session.execute(
                sa.select(studies.c.id, studies.c.name)
                .where(studies.c.id == any_of(study_ids), ~studies.c.paused,
                       studies.c.budget > _TAKEN)
                .order_by(studies.c.priority.desc(), _RUNNING, studies.c.created_at,
                          studies.c.id)).all()
            for study_id, name in candidates:
                # The row lock serialises claimers of one study. Recount in a *separate*
                # statement: under READ COMMITTED it takes a fresh snapshot after the lock
                # is granted, so it sees the claim the previous holder committed.
                session.execute(sa.select(sa.literal_column("1")).select_from(studies)
                                .where(studies.c.id == study_id).with_for_update())
                has_room = session.execute(
                    sa.select(sa.and_(~studies.c.paused, studies.c.budget > _TAKEN))
                    .where(studies.c.id == study_id)).scalar()
                if has_room:
                    claim_id = session.execute(
                        sa.insert(claims).values(study_id=study_id, worker_id=worker_id)
                        .returning(claims.c.id)).scalar_one()
                    return Claim(claim_id, study_id, name)
        return None

    def bind_trial(self, claim_id: int, trial_id: int) -> None:
        with self.transaction() as session:
            session.execute(sa.update(claims).where(claims.c.id == claim_id)
                            .values(trial_id=trial_id))

    def finish_claim(self, claim_id: int, end: ClaimEnd) -> None:
        with self.transaction() as session:
            session.execute(sa.update(claims)
                            .where(claims.c.id == claim_id, claims.c.state == "active")
                            .values(state=ClaimEnd(end).value, finished_at=sa.func.now()))

    def claim_counts(self, study_id: int) -> dict[str, int]:
        with self.transaction() as session:
            rows = session.execute(
                sa.select(claims.c.state, sa.func.count()).where(claims.c.study_id == study_id)
                .group_by(claims.c.state)).all()
        return {state: n for state, n in rows}

    def active_claims(self, study_ids: list[int]) -> int:
        with self.transaction() as session:
            return session.execute(
                sa.select(sa.func.count()).select_from(claims)
                .where(claims.c.state == "active", claims.c.study_id == any_of(study_ids))
            ).scalar_one()
