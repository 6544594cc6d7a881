"""Study specs, atomic budget claims and the worker registry.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("optuna_study_id", sa.Integer, nullable=False, unique=True),
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("task", sa.Text, nullable=False),
        sa.Column("generations", sa.Integer, nullable=False),
        sa.Column("seeds", sa.Integer, nullable=False),
        sa.Column("population", sa.Integer, nullable=False),
        sa.Column("stagnation_limit", sa.Integer, nullable=True),
        sa.Column("budget", sa.Integer, nullable=False),
        sa.Column("sampler", sa.Text, nullable=False),
        sa.Column("pruner", sa.Text, nullable=False),
        sa.Column("objective", sa.Text, nullable=True),
        sa.Column("base_seed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("budget > 0 AND generations > 0 AND seeds > 0 AND population > 1"),
        schema="nas",
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("threads", sa.Integer, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False, server_default="running"),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("current_study_id", sa.Integer, sa.ForeignKey("nas.studies.id"), nullable=True),
        sa.Column("current_trial_id", sa.Integer, nullable=True),
        schema="nas",
    )
    op.create_table(
        "claims",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("nas.studies.id"), nullable=False),
        sa.Column("worker_id", sa.Integer, sa.ForeignKey("nas.workers.id"), nullable=True),
        sa.Column("trial_id", sa.Integer, nullable=True),
        sa.Column("state", sa.Text, nullable=False, server_default="active"),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('active', 'done', 'released')", name="claims_state"),
        schema="nas",
    )
    op.create_index("claims_study_state", "claims", ["study_id", "state"], schema="nas")
    op.create_index("claims_trial", "claims", ["trial_id"], schema="nas")
