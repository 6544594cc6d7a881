"""Resolve the claims of dead workers, so a crash never loses or double-counts budget.

A worker that is alive settles its own claims. A worker killed with -9, OOM-killed or
cut off by the network cannot, so every worker, before it claims, looks for claims whose
worker has not been seen for the grace period and decides from the trial's state:

    no trial yet                 -> released (the slot is free again)
    RUNNING                      -> left alone until Optuna's heartbeat check fails it
    FAIL and a retry was queued  -> released (the retry will take a new claim)
    COMPLETE, PRUNED, final FAIL -> done (it counts toward the budget)
"""
from __future__ import annotations

import sqlalchemy as sa

from nas.store.session import session_scope

_DEAD_CLAIMS = sa.text("""
    SELECT c.id, c.trial_id, t.state::text AS state, t.number, t.study_id
    FROM nas.claims c
    JOIN nas.workers w ON w.id = c.worker_id
    LEFT JOIN trials t ON t.trial_id = c.trial_id
    WHERE c.state = 'active' AND c.study_id = ANY(:studies)
      AND w.last_seen < now() - make_interval(secs => :grace)
    FOR UPDATE OF c SKIP LOCKED
""")

_RETRIED = sa.text("""
    SELECT EXISTS (
        SELECT 1 FROM trial_system_attributes a JOIN trials r ON r.trial_id = a.trial_id
        WHERE r.study_id = :study AND a.key = 'retry_history'
          AND a.value_json::jsonb @> to_jsonb(CAST(:number AS int)))
""")


def was_retried(session, study_id: int, number: int) -> bool:
    return bool(session.execute(_RETRIED, {"study": study_id, "number": number}).scalar())


def claim_outcome(session, state: str | None, study_id: int | None, number: int | None) -> str | None:
    """What a claim becomes given its trial's state; None while the trial still runs."""
    if state is None:
        return "released"
    if state in ("RUNNING", "WAITING"):
        return None
    if state == "FAIL" and was_retried(session, study_id, number):
        return "released"
    return "done"


def reap_dead_claims(url: str, study_ids: list[int], grace: float) -> dict[str, int]:
    counts = {"released": 0, "done": 0}
    with session_scope(url) as session:
        for row in session.execute(_DEAD_CLAIMS, {"studies": study_ids, "grace": grace}).mappings():
            outcome = claim_outcome(session, row["state"], row["study_id"], row["number"])
            if outcome is None:
                continue
            session.execute(sa.text(
                "UPDATE nas.claims SET state = :s, finished_at = now() WHERE id = :id"),
                {"s": outcome, "id": row["id"]})
            counts[outcome] += 1
    return counts
