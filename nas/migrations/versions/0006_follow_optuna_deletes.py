"""nas rows follow their Optuna study and trials: deleting either (with `optuna
delete-study`, optuna-dashboard's trash icon, `optuna.delete_study` or `nas study
delete`) removes what nas kept of it in the same transaction. And `paused_reason`: why
nas paused a study by itself (its trials all failed before doing any work).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

Before this revision a study deleted by Optuna's own tools left its `nas.studies` row
behind: workers kept serving a study whose Optuna half was gone and died in
`optuna.load_study`. With foreign keys that cascade, the database keeps the two halves
together whoever deletes, so no reader has to check. Rows already orphaned by such a
delete are removed here first (they describe nothing that still exists).
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# (table, column, referenced, on delete): every link from a nas row to what it describes.
LINKS = (
    ("claims", "study_id", "nas.studies(id)", "CASCADE"),
    ("seed_runs", "study_id", "nas.studies(id)", "CASCADE"),
    ("workers", "current_study_id", "nas.studies(id)", "SET NULL"),
    ("studies", "optuna_study_id", "studies(study_id)", "CASCADE"),
    ("seed_runs", "trial_id", "trials(trial_id)", "CASCADE"),
    ("generations", "trial_id", "trials(trial_id)", "CASCADE"),
    ("genomes", "trial_id", "trials(trial_id)", "CASCADE"),
)
ORPHANS = (
    "DELETE FROM nas.studies s WHERE NOT EXISTS "
    "(SELECT 1 FROM studies o WHERE o.study_id = s.optuna_study_id)",
    *(f"DELETE FROM nas.{table} x WHERE NOT EXISTS "
      f"(SELECT 1 FROM trials t WHERE t.trial_id = x.trial_id)"
      for table in ("seed_runs", "generations", "genomes")),
)


def _constraint(table: str, column: str) -> str:
    return f"{table}_{column}_fkey"  # PostgreSQL's own name for the 0001/0003 keys


def upgrade() -> None:
    op.execute("ALTER TABLE nas.studies ADD COLUMN paused_reason text")
    for table, column, target, action in LINKS[:3]:  # nas-internal first: orphans cascade
        op.execute(f"ALTER TABLE nas.{table} DROP CONSTRAINT IF EXISTS {_constraint(table, column)}, "
                   f"ADD CONSTRAINT {_constraint(table, column)} FOREIGN KEY ({column}) "
                   f"REFERENCES {target} ON DELETE {action}")
    for sql in ORPHANS:
        op.execute(sql)
    for table, column, target, action in LINKS[3:]:
        op.execute(f"ALTER TABLE nas.{table} ADD CONSTRAINT {_constraint(table, column)} "
                   f"FOREIGN KEY ({column}) REFERENCES {target} ON DELETE {action}")


def downgrade() -> None:
    op.execute("ALTER TABLE nas.studies DROP COLUMN paused_reason")
    for table, column, target, _ in LINKS:
        op.execute(f"ALTER TABLE nas.{table} DROP CONSTRAINT IF EXISTS {_constraint(table, column)}")
    for table, column, target, _ in LINKS[:3]:
        op.execute(f"ALTER TABLE nas.{table} ADD CONSTRAINT {_constraint(table, column)} "
                   f"FOREIGN KEY ({column}) REFERENCES {target}")
