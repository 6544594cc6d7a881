"""Alembic environment: runs on the connection `store.schema.upgrade` hands it.

The version table lives in the `nas` schema so it never collides with Optuna's own
`alembic_version` in the default schema.
"""
from alembic import context
from sqlalchemy import text

connection = context.config.attributes["connection"]
connection.execute(text("CREATE SCHEMA IF NOT EXISTS nas"))
context.configure(connection=connection, version_table="alembic_version",
                  version_table_schema="nas", transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
