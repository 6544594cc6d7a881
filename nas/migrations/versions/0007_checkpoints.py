"""Checkpoints: one row per trial lineage (a trial and its retries), replaced atomically.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05

A retry of an interrupted trial continues from its lineage's latest checkpoint instead of
generation 0. `lineage` is the number of the lineage's first trial; `progressed` counts
the attempts that advanced it (they do not use up the retry budget). The row goes with
its study (cascade) and is deleted when the lineage finishes.
"""
import importlib

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

# nas.trials gains two columns at its end (CREATE OR REPLACE VIEW may only append):
# `resumed_from`, the generation a resumed attempt continued from, and `preempted`, an
# attempt stopped on request (a signal, a time limit) rather than failed.
_V0005 = importlib.import_module("nas.migrations.versions.0005_metrics_progress")
TRIALS = _V0005.TRIALS.replace(
    "          WHERE r.trial_id = t.trial_id) AS success_rate\n",
    "          WHERE r.trial_id = t.trial_id) AS success_rate,\n"
    "       (SELECT a.value_json::int FROM trial_system_attributes a\n"
    "          WHERE a.trial_id = t.trial_id AND a.key = 'nas_resumed_from') AS resumed_from,\n"
    "       EXISTS (SELECT 1 FROM trial_system_attributes a\n"
    "          WHERE a.trial_id = t.trial_id AND a.key = 'nas_preempted') AS preempted\n")
assert TRIALS != _V0005.TRIALS

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkpoints",
        sa.Column("study_id", sa.Integer, sa.ForeignKey("nas.studies.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("lineage", sa.Integer, primary_key=True),
        sa.Column("trial_id", sa.Integer, nullable=False),  # the attempt that wrote it
        sa.Column("generation", sa.Integer, nullable=False),  # the last one it holds
        sa.Column("params_digest", sa.Text, nullable=False),
        sa.Column("reported", JSONB, nullable=False),  # [[step, value], ...] so far
        sa.Column("progressed", sa.Integer, nullable=False, server_default="1"),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.text("now()")),
        schema="nas",
    )
    op.execute(TRIALS)


def downgrade() -> None:
    op.execute("DROP VIEW nas.leaderboard")
    op.execute("DROP VIEW nas.trials")
    op.execute(_V0005.TRIALS)
    op.execute(_V0005.LEADERBOARD)
    op.drop_table("checkpoints", schema="nas")
