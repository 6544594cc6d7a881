"""Bring a database up to date: Optuna's tables, then the `nas` schema's migrations.

Both run under one PostgreSQL advisory lock, so any number of processes may call
`upgrade()` at once: one does the work, the others wait and then find nothing to do.
"""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError

from nas.errors import NasError
from nas.store.errors import translate

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
LOCK_KEY = 0x6E6173  # "nas": one advisory-lock key for every schema change


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


class SchemaQueries:
    def upgrade(self, revision: str = "head") -> None:
        """Idempotent and safe to run concurrently from several processes."""
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
                self.optuna_storage()  # creates Optuna's tables on first use
                cfg = _alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        except SQLAlchemyError as exc:
            raise translate(exc, self.url) from exc

    def current_revision(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                exists = conn.execute(sa.text("SELECT to_regclass('nas.alembic_version')")).scalar()
                if exists is None:
                    return None
                return conn.execute(sa.text("SELECT version_num FROM nas.alembic_version")).scalar()
        except SQLAlchemyError as exc:
            raise translate(exc, self.url) from exc

    def require_current(self) -> None:
        """Workers never migrate; they refuse a database the coordinator has not set up."""
        found = self.current_revision()
        if found != head_revision():
            state = "has no nas schema" if found is None else f"is at schema revision {found}"
            raise NasError(f"the database {state}; run `nas db upgrade` first")
