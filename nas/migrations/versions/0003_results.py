"""Per-seed results, per-generation curves and best genomes of every trial.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seed_runs",
        sa.Column("trial_id", sa.Integer, primary_key=True),
        sa.Column("seed", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("nas.studies.id"), nullable=False),
        sa.Column("trial_number", sa.Integer, nullable=False),
        sa.Column("best_fitness", sa.Float, nullable=False),
        sa.Column("generations", sa.Integer, nullable=False),
        sa.Column("evaluations", sa.BigInteger, nullable=False),
        sa.Column("solved_generation", sa.Integer, nullable=True),
        sa.Column("solved_evaluations", sa.BigInteger, nullable=True),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("worker_host", sa.Text, nullable=False),
        sa.Column("worker_pid", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.text("now()")),
        schema="nas",
    )
    op.create_index("seed_runs_study", "seed_runs", ["study_id", "best_fitness"], schema="nas")
    op.create_table(
        "generations",
        sa.Column("trial_id", sa.Integer, primary_key=True),
        sa.Column("seed", sa.Integer, primary_key=True),
        sa.Column("generation", sa.Integer, primary_key=True),
        sa.Column("best", sa.Float, nullable=False),
        sa.Column("mean", sa.Float, nullable=False),
        sa.Column("species", sa.Integer, nullable=True),
        sa.Column("nodes", sa.Float, nullable=True),
        sa.Column("connections", sa.Float, nullable=True),
        schema="nas",
    )
    op.create_table(
        "genomes",
        sa.Column("trial_id", sa.Integer, primary_key=True),
        sa.Column("seed", sa.Integer, primary_key=True),
        sa.Column("fitness", sa.Float, nullable=False),
        sa.Column("genome", JSONB, nullable=False),
        schema="nas",
    )
