"""Queries on Optuna's own tables (`trials`, `trial_values`, `trial_system_attributes`,
`trial_heartbeats`, `study_directions`), in one place: when Optuna changes its schema,
this is the module to read. Optuna's writes always go through its own storage API; these
only read (the dead-claims read locks nas's claim rows, not Optuna's).
"""
from __future__ import annotations

import sqlalchemy as sa

_RETRIED = sa.text("""
    SELECT EXISTS (
        SELECT 1 FROM trial_system_attributes a JOIN trials r ON r.trial_id = a.trial_id
        WHERE r.study_id = :study AND a.key = 'retry_history'
          AND a.value_json::jsonb @> to_jsonb(CAST(:number AS int)))
""")

_ORPHANS = sa.text("""
    SELECT t.trial_id FROM trials t
    WHERE t.study_id = ANY(:studies) AND t.state = 'RUNNING'
      AND t.datetime_start < now() - make_interval(secs => :grace)
      AND NOT EXISTS (SELECT 1 FROM nas.claims c WHERE c.trial_id = t.trial_id)
      AND NOT EXISTS (SELECT 1 FROM trial_heartbeats h WHERE h.trial_id = t.trial_id
                      AND h.heartbeat > now() - make_interval(secs => :grace))
""")

_BEATLESS = sa.text("""
    SELECT t.study_id, t.trial_id FROM trials t
    JOIN nas.claims c ON c.trial_id = t.trial_id AND c.state = 'active'
    JOIN nas.workers w ON w.id = c.worker_id
    WHERE t.study_id = ANY(:studies) AND t.state = 'RUNNING'
      AND w.last_seen < now() - make_interval(secs => :grace)
      AND NOT EXISTS (SELECT 1 FROM trial_heartbeats h WHERE h.trial_id = t.trial_id)
""")

# +1 when the study maximizes, -1 when it minimizes: ORDER BY value * sign DESC is best first.
_SIGN = ("(SELECT CASE WHEN d.direction::text = 'MINIMIZE' THEN -1 ELSE 1 END "
         "FROM study_directions d WHERE d.study_id = :s AND d.objective = 0)")

_TOP_CURVES = sa.text(f"""
    WITH top AS (
        SELECT t.trial_id, t.number FROM trials t JOIN trial_values v USING (trial_id)
        WHERE t.study_id = :s AND t.state = 'COMPLETE' ORDER BY v.value * {_SIGN} DESC LIMIT :k)
    SELECT top.number, g.seed, g.generation, g.best, g.mean
    FROM top JOIN nas.generations g ON g.trial_id = top.trial_id
    ORDER BY top.number, g.seed, g.generation
""")

_BEST_GENOME = sa.text(f"""
    SELECT t.number, g.seed, g.genome FROM nas.genomes g JOIN trials t ON t.trial_id = g.trial_id
    LEFT JOIN trial_values v ON v.trial_id = t.trial_id
    WHERE t.study_id = :s AND (:n IS NULL OR t.number = :n) AND (:seed IS NULL OR g.seed = :seed)
    ORDER BY v.value * {_SIGN} DESC NULLS LAST, g.fitness DESC, t.number, g.seed LIMIT 1
""")  # ties go to the first trial and seed: the GIF and the PNG of one study show the same


# Trials marked `nas_failed_at_once` (failed before reporting anything), counted only
# while no trial of the study ever completed or was pruned.
_FAILED_AT_ONCE = sa.text("""
    SELECT CASE WHEN EXISTS (SELECT 1 FROM trials t WHERE t.study_id = :s
                             AND t.state IN ('COMPLETE', 'PRUNED')) THEN 0
           ELSE (SELECT count(*) FROM trial_system_attributes a JOIN trials t USING (trial_id)
                 WHERE t.study_id = :s AND a.key = 'nas_failed_at_once') END
""")

_DEAD_CLAIMS = sa.text("""
    SELECT c.id, c.trial_id, t.state::text AS state, t.number, t.study_id,
           t.datetime_complete < now() - make_interval(secs => :grace) AS failed_long_ago,
           COALESCE(jsonb_array_length(h.history), 0) AS attempts_before,
           COALESCE((SELECT cp.progressed FROM nas.checkpoints cp WHERE cp.study_id = c.study_id
                     AND cp.lineage = COALESCE((h.history->>0)::int, t.number)), 0) AS progressed,
           EXISTS (SELECT 1 FROM trial_system_attributes o WHERE o.trial_id = t.trial_id
                   AND o.key = 'nas_orphan') AS orphan
    FROM nas.claims c
    JOIN nas.workers w ON w.id = c.worker_id
    LEFT JOIN trials t ON t.trial_id = c.trial_id
    LEFT JOIN LATERAL (SELECT a.value_json::jsonb AS history FROM trial_system_attributes a
                       WHERE a.trial_id = t.trial_id AND a.key = 'retry_history') h ON true
    WHERE c.state = 'active' AND c.study_id = ANY(:studies)
      AND w.last_seen < now() - make_interval(secs => :grace)
    FOR UPDATE OF c SKIP LOCKED
""")


class OptunaTableQueries:
    def failed_at_once(self, optuna_study_id: int) -> int:
        """How many trials failed before doing any work, while none has ever worked: a
        broken objective, not a bad config (which the sampler should learn from)."""
        with self.transaction() as session:
            return session.execute(_FAILED_AT_ONCE, {"s": optuna_study_id}).scalar_one()

    def was_retried(self, optuna_study_id: int, number: int) -> bool:
        """Some trial of the study carries `number` in its retry history."""
        with self.transaction() as session:
            return bool(session.execute(_RETRIED, {"study": optuna_study_id,
                                                   "number": number}).scalar())

    def orphan_trials(self, optuna_study_ids: list[int], grace: float) -> list[int]:
        """RUNNING trials that no claim ever bound and no heartbeat keeps alive: Optuna
        created them (`ask`) as the database went away, and the asking worker never saw
        them. Nothing ran for them, so the caller fails them (marked `nas_orphan`) without
        a retry; their released claims already gave the budget back."""
        with self.transaction() as session:
            return [r[0] for r in session.execute(_ORPHANS, {"studies": optuna_study_ids,
                                                             "grace": grace})]

    def beatless_trials(self, optuna_study_ids: list[int],
                        grace: float) -> list[tuple[int, int]]:
        """RUNNING trials of dead workers that never wrote a trial heartbeat (the worker
        died or was cut off between starting the trial and its first beat). Optuna's
        stale check only fails trials whose heartbeat went stale, so without this such a
        trial, and its slot, would wait forever. (optuna study id, trial id) pairs."""
        with self.transaction() as session:
            return [(r[0], r[1]) for r in session.execute(
                _BEATLESS, {"studies": optuna_study_ids, "grace": grace})]

    def unbound_running(self, optuna_study_ids: list[int]) -> int:
        """RUNNING trials with no claim: orphans in the making (a worker waits them out)."""
        with self.transaction() as session:
            return session.execute(sa.text(
                "SELECT count(*) FROM trials t WHERE t.study_id = ANY(:s) AND t.state = 'RUNNING' "
                "AND NOT EXISTS (SELECT 1 FROM nas.claims c WHERE c.trial_id = t.trial_id)"),
                {"s": optuna_study_ids}).scalar_one()

    def completed_values(self, optuna_study_id: int) -> list[float]:
        with self.transaction() as session:
            return [r[0] for r in session.execute(sa.text(
                "SELECT v.value FROM trials t JOIN trial_values v USING (trial_id) "
                "WHERE t.study_id = :s AND t.state = 'COMPLETE' AND v.objective = 0"),
                {"s": optuna_study_id})]

    def top_curves(self, optuna_study_id: int, k: int) -> dict[int, dict[int, list[tuple[float, float]]]]:
        """Per-generation (best, mean) of each seed of the k best completed trials:
        {trial number: {seed: [(best, mean), ...]}}."""
        with self.transaction() as session:
            rows = session.execute(_TOP_CURVES, {"s": optuna_study_id, "k": k}).all()
        curves: dict[int, dict[int, list]] = {}
        for number, seed, _, best, mean in rows:
            curves.setdefault(number, {}).setdefault(seed, []).append((best, mean))
        return curves

    def best_genome(self, optuna_study_id: int, trial: int | None,
                    seed: int | None) -> tuple[dict, int, int] | None:
        """(genome, trial number, seed) of the best stored genome, optionally of one trial
        and/or seed; None when there is none."""
        with self.transaction() as session:
            found = session.execute(_BEST_GENOME, {"s": optuna_study_id, "n": trial,
                                                   "seed": seed}).first()
        return None if found is None else (found.genome, found.number, found.seed)

    def dead_claims(self, study_ids: list[int], grace: float) -> list:
        """Active claims of workers not seen for `grace` s, each with its trial's state,
        number, study, whether it finished `grace` s ago and its attempts so far; the
        claim rows stay locked (FOR UPDATE SKIP LOCKED) until the caller's transaction ends."""
        with self.transaction() as session:
            return session.execute(_DEAD_CLAIMS, {"studies": study_ids,
                                                  "grace": grace}).mappings().all()

    def live_workers(self, stale_after: float) -> list[dict]:
        """Workers not stopped (the registry nas.workers, with the number of the trial each
        runs), each marked stale when its heartbeat is older than `stale_after` s."""
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
