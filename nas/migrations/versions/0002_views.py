"""Views for people with psql: nas.trials, nas.leaderboard, nas.progress.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Optuna stores a categorical param as an index into its distribution's choices and an
# int as a float; params_json turns both back into the values the objective saw.
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
       t.trial_id
FROM trials t
JOIN studies s ON s.study_id = t.study_id
LEFT JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0
"""

LEADERBOARD = """
CREATE OR REPLACE VIEW nas.leaderboard AS
SELECT r.study, r.rank, r.number, r.value, n.mode, n.task, r.params, r.duration, r.worker_host
FROM (SELECT tr.*, rank() OVER (PARTITION BY tr.study ORDER BY tr.value DESC) AS rank
        FROM nas.trials tr WHERE tr.state = 'COMPLETE') r
JOIN nas.studies n ON n.name = r.study
ORDER BY r.study, r.rank
"""

PROGRESS = """
CREATE OR REPLACE VIEW nas.progress AS
WITH counts AS (
    SELECT s.study_name AS study,
           count(*) FILTER (WHERE t.state = 'COMPLETE') AS complete,
           count(*) FILTER (WHERE t.state = 'PRUNED') AS pruned,
           count(*) FILTER (WHERE t.state = 'FAIL') AS failed,
           count(*) FILTER (WHERE t.state = 'RUNNING') AS running,
           count(*) FILTER (WHERE t.state = 'WAITING') AS waiting,
           min(t.datetime_start) AS first_started
    FROM trials t JOIN studies s ON s.study_id = t.study_id GROUP BY s.study_name),
done AS (
    SELECT study_id, count(*) FILTER (WHERE state = 'done') AS finished,
           max(finished_at) AS last_finished
    FROM nas.claims GROUP BY study_id)
SELECT n.name AS study, n.mode, n.task, n.budget, n.priority, n.paused,
       COALESCE(d.finished, 0) AS finished,
       COALESCE(c.complete, 0) AS complete, COALESCE(c.pruned, 0) AS pruned,
       COALESCE(c.failed, 0) AS failed, COALESCE(c.running, 0) AS running,
       COALESCE(c.waiting, 0) AS waiting,
       (SELECT max(v.value) FROM trial_values v JOIN trials t ON t.trial_id = v.trial_id
         WHERE t.study_id = n.optuna_study_id AND t.state = 'COMPLETE') AS best,
       CASE WHEN d.finished > 0 AND d.last_finished > c.first_started
            THEN d.finished / (extract(epoch FROM d.last_finished - c.first_started) / 3600.0)
       END AS trials_per_hour,
       CASE WHEN d.finished > 0 AND d.last_finished > c.first_started AND n.budget > d.finished
            THEN (n.budget - d.finished) * (d.last_finished - c.first_started) / d.finished
            WHEN n.budget <= COALESCE(d.finished, 0) THEN interval '0'
       END AS eta
FROM nas.studies n
LEFT JOIN counts c ON c.study = n.name
LEFT JOIN done d ON d.study_id = n.id
ORDER BY n.priority DESC, n.created_at
"""


def upgrade() -> None:
    op.execute(TRIALS)
    op.execute(LEADERBOARD)
    op.execute(PROGRESS)
