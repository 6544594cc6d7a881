"""Alembic environment and versions for the `nas` schema (Optuna manages its own tables)."""
