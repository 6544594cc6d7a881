"""Checkpoints of trial lineages (a trial and its retries): one row each, replaced whole.

A row is written by one INSERT ... ON CONFLICT statement, so a reader sees the previous
checkpoint or the new one, never half of one. It never moves backwards: a late write from
an attempt that was already given up (failed by heartbeat while cut off) cannot replace
a later generation written by its retry. `progressed` counts the attempts that advanced
the lineage: the retry rule leaves those out of the retry budget.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from nas.store.tables import checkpoints


@dataclass(frozen=True)
class CheckpointRow:
    lineage: int
    trial_id: int
    generation: int
    params_digest: str
    reported: list  # [[step, value], ...]: the intermediate values reported so far
    progressed: int
    payload: bytes


class CheckpointQueries:
    def save_checkpoint(self, study_id: int, lineage: int, trial_id: int, generation: int,
                        params_digest: str, reported: list, payload: bytes) -> bool:
        """Write (or replace) the lineage's checkpoint; False when a later one is there."""
        row = {"study_id": study_id, "lineage": lineage, "trial_id": trial_id,
               "generation": generation, "params_digest": params_digest,
               "reported": reported, "payload": payload, "progressed": 1}
        stmt = insert(checkpoints).values(**row)
        new_attempt = stmt.excluded.trial_id != checkpoints.c.trial_id
        stmt = stmt.on_conflict_do_update(
            index_elements=[checkpoints.c.study_id, checkpoints.c.lineage],
            set_={**{k: stmt.excluded[k] for k in ("trial_id", "generation", "params_digest",
                                                  "reported", "payload")},
                  "progressed": checkpoints.c.progressed + sa.case((new_attempt, 1), else_=0),
                  "written_at": sa.func.now()},
            where=stmt.excluded.generation > checkpoints.c.generation)
        with self.transaction() as session:
            return session.execute(stmt).rowcount > 0

    def load_checkpoint(self, study_id: int, lineage: int) -> CheckpointRow | None:
        with self.transaction() as session:
            found = session.execute(sa.select(checkpoints).where(
                checkpoints.c.study_id == study_id, checkpoints.c.lineage == lineage)).mappings().first()
        if found is None:
            return None
        return CheckpointRow(found["lineage"], found["trial_id"], found["generation"],
                             found["params_digest"], list(found["reported"]),
                             found["progressed"], bytes(found["payload"]))

    def progressed_attempts(self, study_id: int, lineage: int) -> int:
        """Attempts of the lineage that advanced its checkpoint (0 without one)."""
        with self.transaction() as session:
            return session.execute(sa.select(checkpoints.c.progressed).where(
                checkpoints.c.study_id == study_id, checkpoints.c.lineage == lineage)
            ).scalar() or 0

    def delete_checkpoint(self, study_id: int, lineage: int) -> None:
        with self.transaction() as session:
            session.execute(sa.delete(checkpoints).where(
                checkpoints.c.study_id == study_id, checkpoints.c.lineage == lineage))

    def checkpoint_count(self, study_id: int) -> int:
        with self.transaction() as session:
            return session.execute(sa.select(sa.func.count()).select_from(checkpoints).where(
                checkpoints.c.study_id == study_id)).scalar_one()
