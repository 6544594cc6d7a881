"""A study's narrowed search space as part of its spec: --fix and --range.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

Both are the canonical `NAME=VALUE` entries nas.spec keeps, space-separated; rows written
before it get '' (the whole space), which is what their trials sampled.
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in ("fix", "ranges"):
        op.add_column("studies", sa.Column(column, sa.Text, nullable=False, server_default=""),
                      schema="nas")


def downgrade() -> None:
    for column in ("ranges", "fix"):
        op.drop_column("studies", column, schema="nas")
