"""A study's direction as part of its spec: an --objective may return a loss to minimize.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

Rows written before it keep NULL, which StudySpec reads as the metric's direction (what
their Optuna studies were created with).
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("studies", sa.Column("direction", sa.Text), schema="nas")


def downgrade() -> None:
    op.drop_column("studies", "direction", schema="nas")
