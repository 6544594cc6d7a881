"""Study specs in `nas.studies`: create, resume, look up.

The spec is the experiment's identity: creating a study that exists with the same spec
resumes it; with a different spec it is an error, never a silent overwrite. The budget
alone is not identity: it may grow, or shrink to no less than the trials already
finished or running (as a researcher extends a search that looks promising). The Optuna
study and the `nas.studies` row are created together under an advisory lock on the
name; if the row cannot be written the Optuna study is removed again.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, replace

import sqlalchemy as sa

from nas.errors import NasError
from nas.spec import StudySpec, check_study_name
from nas.store.tables import claims, studies

COLUMNS = StudySpec.columns()
assert set(COLUMNS) <= set(studies.c.keys()), "nas.store.tables.studies lacks a spec column"


@dataclass(frozen=True)
class StudyRow:
    id: int
    name: str
    optuna_study_id: int
    spec: StudySpec
    priority: int
    paused: bool
    paused_reason: str | None = None  # set when nas paused it (a failing objective)


def _row(mapping) -> StudyRow:
    return StudyRow(mapping["id"], mapping["name"], mapping["optuna_study_id"],
                    StudySpec.from_mapping(mapping), mapping["priority"], mapping["paused"],
                    mapping.get("paused_reason"))


def _named(name: str):
    return sa.select(studies).where(studies.c.name == name)


def _budgeted(session, row: StudyRow, budget: int) -> StudyRow:
    """`row` with `budget`, written under the study's row lock (the lock claimers take, so
    no claim slips in between the count and the change)."""
    if budget == row.spec.budget:
        return row
    session.execute(sa.select(studies.c.id).where(studies.c.id == row.id).with_for_update())
    taken = session.execute(sa.select(sa.func.count()).select_from(claims).where(
        claims.c.study_id == row.id, claims.c.state != "released")).scalar_one()
    if budget < taken:
        raise NasError(f"study {row.name!r} has {taken} trials finished or running: its budget "
                       f"cannot go below that (asked {budget})")
    session.execute(sa.update(studies).where(studies.c.id == row.id).values(budget=budget))
    return replace(row, spec=replace(row.spec, budget=budget))


class StudyQueries:
    def study(self, name: str) -> StudyRow | None:
        with self.transaction() as session:
            found = session.execute(_named(name)).mappings().first()
        return _row(found) if found else None

    def require_study(self, name: str) -> StudyRow:
        row = self.study(name)
        if row is None:
            raise NasError(f"no study named {name!r} in this database")
        return row

    def list_studies(self) -> list[StudyRow]:
        with self.transaction() as session:
            rows = session.execute(sa.select(studies).order_by(
                studies.c.priority.desc(), studies.c.created_at, studies.c.id)).mappings().all()
        return [_row(r) for r in rows]

    def create_or_resume_study(self, name: str, spec: StudySpec,
                               priority: int = 0) -> tuple[StudyRow, bool]:
        """Returns (row, created). Raises NasError on a spec mismatch or a bad name."""
        import optuna

        check_study_name(name)
        storage = self.optuna_storage()
        with self.transaction() as session:
            session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('nas.study:' || :n))"),
                            {"n": name})
            found = session.execute(_named(name)).mappings().first()
            if found is not None:
                existing = _row(found)
                diff = [d for d in spec.differences(existing.spec) if not d.startswith("budget:")]
                if diff:
                    raise NasError(f"study {name!r} exists with a different spec ({'; '.join(diff)}); "
                                   "use a new name or the same flags (only -n may change)")
                return _budgeted(session, existing, spec.budget), False
            quiet = optuna.logging.get_verbosity()
            optuna.logging.set_verbosity(optuna.logging.WARNING)  # the caller says "created"
            try:
                study = optuna.create_study(study_name=name, storage=storage, direction=spec.direction)
                with warnings.catch_warnings():  # (experimental in Optuna: a warning per call)
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    study.set_metric_names([spec.metric])  # optuna-dashboard's label for the value
            except optuna.exceptions.DuplicatedStudyError:
                raise NasError(f"an Optuna study named {name!r} exists but was not created by nas") from None
            finally:
                optuna.logging.set_verbosity(quiet)
            try:
                new_id = session.execute(sa.insert(studies).values(
                    name=name, optuna_study_id=study._study_id, priority=priority,
                    **asdict(spec)).returning(studies.c.id)).scalar_one()
            except BaseException:
                optuna.delete_study(study_name=name, storage=storage)
                raise
        return StudyRow(new_id, name, study._study_id, spec, priority, False), True

    def set_budget(self, name: str, budget: int) -> StudyRow:
        """Grow or shrink study NAME's budget (no lower than its finished and running trials)."""
        with self.transaction() as session:
            session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('nas.study:' || :n))"),
                            {"n": name})
            found = session.execute(_named(name)).mappings().first()
            if found is None:
                raise NasError(f"no study named {name!r} in this database")
            return _budgeted(session, _row(found), budget)

    def study_exists(self, study_id: int) -> bool:
        """False once the study was deleted, by nas or by Optuna's own tools (migration
        0006 makes the nas row follow its Optuna study)."""
        with self.transaction() as session:
            return session.execute(sa.select(sa.exists().where(
                studies.c.id == study_id))).scalar_one()

    def delete_study(self, name: str) -> None:
        """Optuna deletes its study; the nas rows go with it (cascading keys, 0006)."""
        import optuna

        try:
            optuna.delete_study(study_name=name, storage=self.optuna_storage())
        except KeyError:
            raise NasError(f"no study named {name!r} in this database") from None

    def set_paused(self, name: str, paused: bool, reason: str | None = None) -> None:
        """Paused studies get no new claims; running trials finish normally. `reason` says
        why nas paused one by itself; resuming clears it."""
        with self.transaction() as session:
            found = session.execute(sa.update(studies).where(studies.c.name == name).values(
                paused=paused, paused_reason=reason if paused else None)).rowcount
        if not found:
            raise NasError(f"no study named {name!r} in this database")
