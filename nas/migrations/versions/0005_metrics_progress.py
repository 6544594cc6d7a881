"""Metrics and progress inside trials: `nas.studies.metric`; views that rank by the study's
direction, show each trial's success rate, count generations, and list running trials.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Studies created before this revision were maximizing mean best fitness: their metric is
`fitness`. Directions come from Optuna's own `study_directions`, so a view never ranks
a study against the way Optuna does. Progress inside a trial comes from the values the
trial reported per generation (`trial_intermediate_values`) and the claim's start, both
written through the database, so it is the same from every machine.
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TRIALS = """
CREATE OR REPLACE VIEW nas.trials AS
SELECT s.study_name AS study,
       t.number,
       t.state::text AS state,
       v.value,
       (SELECT jsonb_object_agg(p.param_name,
                CASE (p.distribution_json::jsonb)->>'name'
                    WHEN 'CategoricalDistribution'
                        THEN (p.distribution_json::jsonb)->'attributes'->'choices'->(p.param_value::int)
                    WHEN 'IntDistribution' THEN to_jsonb(p.param_value::bigint)
                    ELSE to_jsonb(p.param_value) END ORDER BY p.param_name)
          FROM trial_params p WHERE p.trial_id = t.trial_id) AS params,
       t.datetime_start AS started,
       t.datetime_complete AS finished,
       t.datetime_complete - t.datetime_start AS duration,
       (SELECT w.host FROM nas.claims c JOIN nas.workers w ON w.id = c.worker_id
          WHERE c.trial_id = t.trial_id ORDER BY c.id DESC LIMIT 1) AS worker_host,
       (SELECT a.value_json::int FROM trial_system_attributes a
          WHERE a.trial_id = t.trial_id AND a.key = 'failed_trial') AS retry_of,
       COALESCE((SELECT jsonb_array_length(a.value_json::jsonb) FROM trial_system_attributes a
          WHERE a.trial_id = t.trial_id AND a.key = 'retry_history'), 0) AS retries,
       t.trial_id,
       (SELECT avg((r.solved_evaluations IS NOT NULL)::int)::float8 FROM nas.seed_runs r
          WHERE r.trial_id = t.trial_id) AS success_rate
FROM trials t
JOIN studies s ON s.study_id = t.study_id
LEFT JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0
"""

# One sign per study: +1 ranks larger values first (maximize), -1 smaller first.
SIGN = ("(SELECT CASE WHEN d.direction::text = 'MINIMIZE' THEN -1 ELSE 1 END "
        "FROM study_directions d WHERE d.study_id = {sid} AND d.objective = 0)")

LEADERBOARD = f"""
CREATE VIEW nas.leaderboard AS
SELECT r.study, r.rank, r.number, r.value, n.mode, n.task, r.params, r.duration, r.worker_host,
       n.metric, r.success_rate
FROM (SELECT tr.*, rank() OVER (PARTITION BY tr.study ORDER BY tr.value * sg.sign DESC) AS rank
        FROM nas.trials tr
        JOIN studies os ON os.study_name = tr.study
        CROSS JOIN LATERAL (SELECT {SIGN.format(sid='os.study_id')} AS sign) sg
        WHERE tr.state = 'COMPLETE') r
JOIN nas.studies n ON n.name = r.study
ORDER BY r.study, r.rank
"""

RUNNING = """
CREATE VIEW nas.running AS
SELECT n.name AS study, t.number, p.steps - 1 AS generation, n.generations,
       (SELECT v.intermediate_value FROM trial_intermediate_values v
         WHERE v.trial_id = t.trial_id ORDER BY v.step DESC LIMIT 1) AS value,
       c.claimed_at AS started,
       extract(epoch FROM now() - c.claimed_at)::float8 AS seconds,
       w.host AS worker_host, w.pid AS worker_pid, t.trial_id
FROM nas.claims c
JOIN nas.studies n ON n.id = c.study_id
JOIN trials t ON t.trial_id = c.trial_id AND t.state = 'RUNNING'
LEFT JOIN nas.workers w ON w.id = c.worker_id
CROSS JOIN LATERAL (SELECT count(*) AS steps FROM trial_intermediate_values v
                    WHERE v.trial_id = t.trial_id) p
WHERE c.state = 'active'
ORDER BY n.name, t.number
"""

PROGRESS = f"""
CREATE VIEW nas.progress AS
WITH counts AS (
    SELECT t.study_id,
           count(*) FILTER (WHERE t.state = 'COMPLETE') AS complete,
           count(*) FILTER (WHERE t.state = 'PRUNED') AS pruned,
           count(*) FILTER (WHERE t.state = 'FAIL') AS failed,
           count(*) FILTER (WHERE t.state = 'FAIL' AND EXISTS (
               SELECT 1 FROM trial_system_attributes a JOIN trials r ON r.trial_id = a.trial_id
               WHERE r.study_id = t.study_id AND a.key = 'retry_history'
                 AND a.value_json::jsonb @> to_jsonb(t.number))) AS retried,
           count(*) FILTER (WHERE t.state = 'RUNNING') AS running,
           count(*) FILTER (WHERE t.state = 'WAITING') AS waiting,
           min(t.datetime_start) AS first_started
    FROM trials t GROUP BY t.study_id),
done AS (
    SELECT study_id, count(*) FILTER (WHERE state = 'done') AS finished,
           max(finished_at) AS last_finished, min(claimed_at) AS first_claimed
    FROM nas.claims GROUP BY study_id),
run AS (
    SELECT n.id AS study_id, sum(r.generation + 1)::bigint AS steps,
           sum((r.generation + 1) / GREATEST(r.seconds, 0.1))::float8 AS steps_per_second
    FROM nas.running r JOIN nas.studies n ON n.name = r.study GROUP BY n.id),
base AS (
    SELECT n.name AS study, n.mode, n.task, n.budget, n.priority, n.paused,
           COALESCE(d.finished, 0) AS finished,
           COALESCE(c.complete, 0) AS complete, COALESCE(c.pruned, 0) AS pruned,
           COALESCE(c.failed, 0) AS failed, COALESCE(c.running, 0) AS running,
           COALESCE(c.waiting, 0) AS waiting, COALESCE(c.retried, 0) AS retried,
           {SIGN.format(sid='n.optuna_study_id')} AS sign,
           n.metric, n.budget::bigint * n.generations * n.seeds AS generations_total,
           LEAST(n.budget::bigint * n.generations * n.seeds,
                 COALESCE(d.finished, 0) * n.generations * n.seeds
                 + COALESCE(r.steps, 0) * n.seeds)::bigint AS generations_done,
           COALESCE(r.steps_per_second, 0) * n.seeds AS generations_per_second,
           d.last_finished, c.first_started, n.optuna_study_id, n.created_at, n.objective
    FROM nas.studies n
    LEFT JOIN counts c ON c.study_id = n.optuna_study_id
    LEFT JOIN done d ON d.study_id = n.id
    LEFT JOIN run r ON r.study_id = n.id)
SELECT b.study, b.mode, b.task, b.budget, b.priority, b.paused, b.finished, b.complete,
       b.pruned, b.failed, b.running, b.waiting,
       (SELECT max(v.value * b.sign) * b.sign FROM trial_values v JOIN trials t ON t.trial_id = v.trial_id
         WHERE t.study_id = b.optuna_study_id AND t.state = 'COMPLETE') AS best,
       CASE WHEN b.finished > 0 AND b.last_finished > b.first_started
            THEN b.finished / (extract(epoch FROM b.last_finished - b.first_started) / 3600.0)
       END AS trials_per_hour,
       CASE WHEN b.budget <= b.finished THEN interval '0'
            WHEN b.generations_per_second > 0
            THEN make_interval(secs => (b.generations_total - b.generations_done)
                                       / b.generations_per_second)
            WHEN b.finished > 0 AND b.last_finished > b.first_started
            THEN (b.budget - b.finished) * (b.last_finished - b.first_started) / b.finished
       END AS eta,
       b.metric, CASE WHEN b.sign < 0 THEN 'minimize' ELSE 'maximize' END AS direction,
       b.retried, b.generations_done, b.generations_total, b.generations_per_second,
       b.objective
FROM base b
ORDER BY b.priority DESC, b.created_at
"""

# The analyst role reads the views and the result tables the README's queries use.
VIEWS = ("nas.trials", "nas.leaderboard", "nas.progress", "nas.running", "nas.seed_runs",
         "nas.generations")


def upgrade() -> None:
    op.add_column("studies", sa.Column("metric", sa.Text, nullable=False,
                                       server_default="fitness"), schema="nas")
    op.execute("DROP VIEW nas.progress")
    op.execute("DROP VIEW nas.leaderboard")
    op.execute(TRIALS)
    op.execute(LEADERBOARD)
    op.execute(RUNNING)
    op.execute(PROGRESS)
    op.execute(f"""
    DO $$
    BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nas_reader') THEN
            GRANT SELECT ON {", ".join(VIEWS)} TO nas_reader;
        END IF;
    END $$;
    """)
