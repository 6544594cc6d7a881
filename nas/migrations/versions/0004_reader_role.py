"""A read-only role for analysts: SELECT on the nas views, nothing else.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

The role is cluster-wide, so several databases (or concurrent migrations) may race to
create it; both that and a server where we may not create roles are tolerated with a
notice: the grants below then apply to whatever `nas_reader` exists, or are skipped.
On the embedded cluster it logs in without a password (loopback, trust); elsewhere set
one with `ALTER ROLE nas_reader PASSWORD '...'`.
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

VIEWS = ("nas.trials", "nas.leaderboard", "nas.progress")


def upgrade() -> None:
    op.execute("""
    DO $$
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nas_reader') THEN
            CREATE ROLE nas_reader LOGIN NOINHERIT;
        END IF;
    EXCEPTION
        WHEN duplicate_object OR unique_violation THEN NULL;
        WHEN insufficient_privilege THEN
            RAISE NOTICE 'no privilege to create role nas_reader; create it and re-run the grants';
    END $$;
    """)
    op.execute(f"""
    DO $$
    BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nas_reader') THEN
            EXECUTE 'GRANT CONNECT ON DATABASE ' || quote_ident(current_database()) || ' TO nas_reader';
            GRANT USAGE ON SCHEMA nas TO nas_reader;
            GRANT SELECT ON {", ".join(VIEWS)} TO nas_reader;
        END IF;
    END $$;
    """)
