"""Resolve the claims of dead workers, so a crash never loses or double-counts budget.

A worker that is alive settles its own claims. A worker killed with -9, OOM-killed or
cut off by the network cannot, so every worker, before it claims, looks for claims whose
worker has not been seen for the grace period and decides from the trial's state:

    no trial yet                       -> released (the slot is free again)
    RUNNING                            -> left alone until the heartbeat check fails it
    FAIL and a retry was queued        -> released (the retry will take a new claim)
    FAIL, no retry yet, retries left   -> left alone for a grace period (Optuna sets FAIL
                                          and queues the retry in two steps); after it,
                                          the failer died in between: the caller queues
                                          the retry, and the claim is released
    COMPLETE, PRUNED, FAIL out of retries -> done (it counts toward the budget)

"Out of retries" is the rule every interruption follows (claims.out_of_retries): only the
lineage's attempts that did not advance its checkpoint count.
"""
from __future__ import annotations

import sqlalchemy as sa

from nas.store.claims import ClaimEnd, claim_end_for, out_of_retries
from nas.store.tables import claims


class ReaperQueries:
    def _dead_claim_end(self, row, max_retry: int) -> tuple[ClaimEnd | None, bool]:
        """(how the claim ends or None to wait, whether the caller must queue a retry)."""
        end = claim_end_for(row["state"], row["state"] == "FAIL"
                            and self.was_retried(row["study_id"], row["number"]), row["orphan"])
        if end is not ClaimEnd.DONE or row["state"] != "FAIL" or out_of_retries(
                row["attempts_before"], row["progressed"], max_retry):
            return end, False
        return (ClaimEnd.RELEASED, True) if row["failed_long_ago"] else (None, False)

    def reap_dead_claims(self, study_ids: list[int], grace: float,
                         max_retry: int) -> tuple[dict[str, int], list[tuple[int, int]]]:
        """Settle dead workers' claims. Returns (counts, (optuna study id, trial id) pairs the
        caller must queue a retry for); the claim is released in the same transaction, under
        its row lock, so only one reaper ever queues a given retry."""
        counts, to_retry = {ClaimEnd.RELEASED.value: 0, ClaimEnd.DONE.value: 0}, []
        with self.transaction() as session:
            rows = self.dead_claims(study_ids, grace)  # locked until this transaction ends
            for row in rows:
                end, requeue = self._dead_claim_end(row, max_retry)
                if end is None:
                    continue
                if requeue:
                    to_retry.append((row["study_id"], row["trial_id"]))
                session.execute(sa.update(claims).where(claims.c.id == row["id"])
                                .values(state=end.value, finished_at=sa.func.now()))
                counts[end.value] += 1
        return counts, to_retry
