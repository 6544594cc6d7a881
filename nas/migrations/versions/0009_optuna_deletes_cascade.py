"""Optuna's own keys to a study and a trial cascade, so deleting a study cannot lose a race
with a worker that is still writing to it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

`optuna delete-study` (and `optuna.delete_study`, optuna-dashboard) delete through the
ORM: it loads the study's trials and their rows, deletes each, then the trial and the
study. A running trial that reports a step (or beats its heartbeat, or a worker that asks
a new trial) in between adds a row the ORM did not load, the final DELETE violates its
foreign key, and Optuna's session swallows the IntegrityError: the command exits 0 and
the study is still there, its worker running on for nothing. With `ON DELETE CASCADE` on
those keys the database removes the late rows in the same statement, and the late writer
finds its trial gone at its next write (which nas's storage turns into "study deleted").

Optuna's migrations may recreate these constraints without the clause; the keys are found
by what they reference, not by name, so running `nas db upgrade` again is harmless, and
the downgrade puts back Optuna's plain keys.
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# every foreign key in Optuna's schema to its studies or trials table, with its definition
_KEYS = """
SELECT c.conrelid::regclass::text AS tab, c.conname AS name, pg_get_constraintdef(c.oid) AS def
FROM pg_constraint c
WHERE c.contype = 'f' AND c.confrelid IN (to_regclass('studies'), to_regclass('trials'))
  AND c.connamespace = (SELECT relnamespace FROM pg_class WHERE oid = to_regclass('studies'))
"""


def _keys() -> list[tuple[str, str, str]]:
    return [tuple(r) for r in op.get_bind().exec_driver_sql(_KEYS)]


def _replace(tab: str, name: str, definition: str) -> None:
    op.execute(f'ALTER TABLE {tab} DROP CONSTRAINT "{name}", ADD CONSTRAINT "{name}" {definition}')


def upgrade() -> None:
    for tab, name, definition in _keys():
        if "ON DELETE" not in definition:
            _replace(tab, name, definition + " ON DELETE CASCADE")


def downgrade() -> None:
    for tab, name, definition in _keys():
        if definition.endswith(" ON DELETE CASCADE"):
            _replace(tab, name, definition[: -len(" ON DELETE CASCADE")])
