"""nas's own tables (schema `nas`), declared once as SQLAlchemy Core `Table`s: the queries
in nas.store build their SQL from these instead of from strings.

This is the schema at the migrations' head; the migrations (nas/migrations/versions) are
its history and create it. A new revision that changes a table changes it here too
(tests/test_views.py compares the two). Server-side defaults are the database's; they are
not repeated here, as no query relies on SQLAlchemy to supply them.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

SCHEMA = "nas"
metadata = sa.MetaData(schema=SCHEMA)
_TS = sa.DateTime(timezone=True)

studies = sa.Table(
    "studies", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("optuna_study_id", sa.Integer, nullable=False, unique=True),
    # the spec (nas.spec.StudySpec, one column per field)
    sa.Column("mode", sa.Text, nullable=False),
    sa.Column("task", sa.Text, nullable=False),
    sa.Column("generations", sa.Integer, nullable=False),
    sa.Column("seeds", sa.Integer, nullable=False),
    sa.Column("population", sa.Integer, nullable=False),
    sa.Column("stagnation_limit", sa.Integer),
    sa.Column("budget", sa.Integer, nullable=False),
    sa.Column("sampler", sa.Text, nullable=False),
    sa.Column("pruner", sa.Text, nullable=False),
    sa.Column("metric", sa.Text, nullable=False),
    sa.Column("objective", sa.Text),
    sa.Column("base_seed", sa.Integer, nullable=False),
    sa.Column("direction", sa.Text),  # NULL in rows from before 0008: the metric's
    sa.Column("fix", sa.Text, nullable=False),  # --fix / --range: '' is the whole space
    sa.Column("ranges", sa.Text, nullable=False),
    # scheduling
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("paused_reason", sa.Text),
    sa.Column("created_at", _TS, nullable=False),
)

workers = sa.Table(
    "workers", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("host", sa.Text, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("threads", sa.Integer, nullable=False),
    sa.Column("version", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("started_at", _TS, nullable=False),
    sa.Column("last_seen", _TS, nullable=False),
    sa.Column("current_study_id", sa.Integer, sa.ForeignKey(studies.c.id)),
    sa.Column("current_trial_id", sa.Integer),
)

claims = sa.Table(
    "claims", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("study_id", sa.Integer, sa.ForeignKey(studies.c.id), nullable=False),
    sa.Column("worker_id", sa.Integer, sa.ForeignKey(workers.c.id)),
    sa.Column("trial_id", sa.Integer),
    sa.Column("state", sa.Text, nullable=False),  # 'active', or a ClaimEnd value
    sa.Column("claimed_at", _TS, nullable=False),
    sa.Column("finished_at", _TS),
)

seed_runs = sa.Table(
    "seed_runs", metadata,
    sa.Column("trial_id", sa.Integer, primary_key=True),
    sa.Column("seed", sa.Integer, primary_key=True),
    sa.Column("study_id", sa.Integer, sa.ForeignKey(studies.c.id), nullable=False),
    sa.Column("trial_number", sa.Integer, nullable=False),
    sa.Column("best_fitness", sa.Float, nullable=False),
    sa.Column("generations", sa.Integer, nullable=False),
    sa.Column("evaluations", sa.BigInteger, nullable=False),
    sa.Column("solved_generation", sa.Integer),
    sa.Column("solved_evaluations", sa.BigInteger),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("worker_host", sa.Text, nullable=False),
    sa.Column("worker_pid", sa.Integer, nullable=False),
    sa.Column("created_at", _TS, nullable=False),
)

generations = sa.Table(
    "generations", metadata,
    sa.Column("trial_id", sa.Integer, primary_key=True),
    sa.Column("seed", sa.Integer, primary_key=True),
    sa.Column("generation", sa.Integer, primary_key=True),
    sa.Column("best", sa.Float, nullable=False),
    sa.Column("mean", sa.Float, nullable=False),
    sa.Column("species", sa.Integer),
    sa.Column("nodes", sa.Float),
    sa.Column("connections", sa.Float),
)

genomes = sa.Table(
    "genomes", metadata,
    sa.Column("trial_id", sa.Integer, primary_key=True),
    sa.Column("seed", sa.Integer, primary_key=True),
    sa.Column("fitness", sa.Float, nullable=False),
    sa.Column("genome", JSONB, nullable=False),
)

# Views (their SQL is in the migrations): read whole, so only the columns queries filter
# on are named.
progress = sa.table("progress", sa.column("study"), schema=SCHEMA)
running = sa.table("running", sa.column("study"), schema=SCHEMA)


def any_of(ids: list[int]):
    """`= ANY(array)`: one statement for any number of ids (IN would expand per count)."""
    return sa.any_(sa.literal(list(ids), ARRAY(sa.Integer)))

checkpoints = sa.Table(
    "checkpoints", metadata,
    sa.Column("study_id", sa.Integer, sa.ForeignKey(studies.c.id, ondelete="CASCADE"),
              primary_key=True),
    sa.Column("lineage", sa.Integer, primary_key=True),  # its first trial's number
    sa.Column("trial_id", sa.Integer, nullable=False),  # the attempt that wrote it
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("params_digest", sa.Text, nullable=False),
    sa.Column("reported", JSONB, nullable=False),
    sa.Column("progressed", sa.Integer, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("written_at", _TS, nullable=False),
)
