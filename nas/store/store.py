"""`Store`: one handle on one database, holding its engine and exposing every query nas
makes (as Optuna's `RDBStorage` does), so no SQL lives outside `nas.store`.

Transactions: every query runs inside `transaction()`, which commits, rolls back, closes,
and turns database errors into our one-line `DatabaseError`. A caller that wants several
queries to succeed or fail together opens `transaction()` itself; the queries inside join
it instead of opening their own. Transactions are per thread (the worker's heartbeat
thread shares the handle with the trial loop).

The queries are grouped by subject in mixins, one module each (studies, claims, workers,
results, reaper, status, optuna_tables, schema); this module only composes them.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from nas.store import session as engines
from nas.store.errors import translate
from nas.store.checkpoints import CheckpointQueries
from nas.store.claims import ClaimQueries
from nas.store.optuna_tables import OptunaTableQueries
from nas.store.reaper import ReaperQueries
from nas.store.results import ResultQueries
from nas.store.schema import SchemaQueries
from nas.store.status import StatusQueries
from nas.store.studies import StudyQueries
from nas.store.workers import WorkerQueries


class Store(StudyQueries, ClaimQueries, WorkerQueries, ResultQueries, ReaperQueries,
            StatusQueries, OptunaTableQueries, SchemaQueries, CheckpointQueries):
    def __init__(self, url: str):
        self.url = url
        self._local = threading.local()
        self._factory = sessionmaker(bind=self.engine)

    @property
    def engine(self) -> Engine:
        return engines.engine_for(self.url)

    def adopt_engine(self, engine: Engine) -> None:
        """Share an existing engine (Optuna's), so a worker has one pool, not two."""
        engines.adopt_engine(self.url, engine)
        self._factory = sessionmaker(bind=engine)

    def optuna_storage(self, **kwargs):
        """An Optuna RDB storage on this database, with our engine options."""
        from nas.store.optuna_storage import optuna_storage  # optuna: only when asked for

        return optuna_storage(self.url, **kwargs)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A transaction, or the one this thread already has open (joined, not nested)."""
        outer = getattr(self._local, "session", None)
        if outer is not None:
            yield outer
            return
        session = self._factory()
        self._local.session = session
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise translate(exc, self.url) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            self._local.session = None
            session.close()

    def check_connection(self) -> None:
        """Fail fast, in one line, when the database is unreachable or refuses us."""
        with self.transaction() as session:
            session.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        engines.dispose_all()
