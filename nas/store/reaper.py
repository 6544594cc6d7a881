"""Resolve the claims of dead workers, so a crash never loses or double-counts budget.

A worker that is alive settles its own claims. A worker killed with -9, OOM-killed or
cut off by the network cannot, so every worker, before it claims, looks for claims whose
worker has not been seen for the grace period and decides from the trial's state:

    no trial yet                       -> released (the slot is free again)
    RUNNING                            -> left alone until the heartbeat check fails it
    FAIL and a retry was queued        -> released (the retry will take a new claim)
    FAIL, no retry yet, retries left   -> left alone for a grace period (Optuna sets FAIL
                                          and queues the retry in two steps); after it,
                                          the failer died in between: 'retry' (the caller
                                          queues the retry) and released
    COMPLETE, PRUNED, FAIL out of retries -> done (it counts toward the budget)
"""
from __future__ import annotations

import sqlalchemy as sa

from nas.store.session import session_scope

_DEAD_CLAIMS = sa.text("""
    SELECT c.id, c.trial_id, t.state::text AS state, t.number, t.study_id,
           t.datetime_complete < now() - make_interval(secs => :grace) AS failed_long_ago,
           COALESCE((SELECT jsonb_array_length(a.value_json::jsonb) FROM trial_system_attributes a
                     WHERE a.trial_id = t.trial_id AND a.key = 'retry_history'), 0) AS attempts_before
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
    """What a live worker's claim becomes given its trial's state; None while it runs."""
    if state is None:
        return "released"
    if state in ("RUNNING", "WAITING"):
        return None
    if state == "FAIL" and was_retried(session, study_id, number):
        return "released"
    return "done"


def _dead_outcome(session, row, max_retry: int) -> str | None:
    outcome = claim_outcome(session, row["state"], row["study_id"], row["number"])
    if outcome != "done" or row["state"] != "FAIL" or row["attempts_before"] >= max_retry:
        return outcome
    return "retry" if row["failed_long_ago"] else None


def reap_dead_claims(url: str, study_ids: list[int], grace: float,
                     max_retry: int) -> tuple[dict[str, int], list[tuple[int, int]]]:
    """Settle dead workers' claims. Returns (counts, (optuna study id, trial id) pairs the
    caller must queue a retry for); the claim is released in the same transaction, under its row lock, so
    only one reaper ever queues a given retry."""
    counts, to_retry = {"released": 0, "done": 0}, []
    with session_scope(url) as session:
        rows = session.execute(_DEAD_CLAIMS, {"studies": study_ids, "grace": grace}).mappings().all()
        for row in rows:
            outcome = _dead_outcome(session, row, max_retry)
            if outcome is None:
                continue
            if outcome == "retry":
                to_retry.append((row["study_id"], row["trial_id"]))
                outcome = "released"
            session.execute(sa.text(
                "UPDATE nas.claims SET state = :s, finished_at = now() WHERE id = :id"),
                {"s": outcome, "id": row["id"]})
            counts[outcome] += 1
    return counts, to_retry


_ORPHANS = sa.text("""
    SELECT t.trial_id FROM trials t
    WHERE t.study_id = ANY(:studies) AND t.state = 'RUNNING'
      AND t.datetime_start < now() - make_interval(secs => :grace)
      AND NOT EXISTS (SELECT 1 FROM nas.claims c WHERE c.trial_id = t.trial_id)
      AND NOT EXISTS (SELECT 1 FROM trial_heartbeats h WHERE h.trial_id = t.trial_id
                      AND h.heartbeat > now() - make_interval(secs => :grace))
""")


def orphan_trials(url: str, optuna_study_ids: list[int], grace: float) -> list[int]:
    """RUNNING trials that no claim ever bound and no heartbeat keeps alive: Optuna created
    them (`ask`) as the database went away, and the asking worker never saw them. Nothing
    ran for them, so the caller fails them (marked `nas_orphan`) without a retry; their
    released claims already gave the budget back."""
    with session_scope(url) as session:
        return [r[0] for r in session.execute(_ORPHANS, {"studies": optuna_study_ids, "grace": grace})]


def unbound_running(url: str, optuna_study_ids: list[int]) -> int:
    """RUNNING trials with no claim: orphans in the making (a worker waits them out)."""
    with session_scope(url) as session:
        return session.execute(sa.text(
            "SELECT count(*) FROM trials t WHERE t.study_id = ANY(:s) AND t.state = 'RUNNING' "
            "AND NOT EXISTS (SELECT 1 FROM nas.claims c WHERE c.trial_id = t.trial_id)"),
            {"s": optuna_study_ids}).scalar_one()
