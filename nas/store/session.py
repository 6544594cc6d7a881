"""Engines, one pool per URL per process, and what a database error means to a user.

`translate()` turns SQLAlchemy/psycopg2 errors into `DatabaseError` (a NasError) with a
one-line, password-free message: the CLI prints it and exits non-zero instead of showing
a traceback. Transactions are `Store.transaction()` (nas.store.store).
"""
from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from nas.errors import NasError
from nas.store import url as urls

# Small and pre-pinged: a worker needs one connection for nas bookkeeping at a time.
# search_path is pinned to public: Optuna's tables live there, and PostgreSQL's default
# "$user", public would resolve `alembic_version` to nas.alembic_version for a role
# that happens to be named `nas`.
# TCP keepalives and tcp_user_timeout make a partitioned connection fail within ~30 s
# instead of hanging for the kernel's 15-minute retransmission limit. On the server's
# side, a transaction left open by a client that was cut off mid-way (its COMMIT never
# arrived) would hold its row locks for hours and block every other worker's claims and
# heartbeat checks: idle_in_transaction_session_timeout ends it after 30 s (nas's and
# Optuna's transactions never sit idle that long).
# pgbouncer refuses these startup `options`: its ini ignores them and sets both on every
# server connection instead (deploy/pgbouncer/pgbouncer.ini).
ENGINE_OPTIONS = dict(pool_size=2, max_overflow=2, pool_pre_ping=True, pool_recycle=1800,
                      connect_args={"connect_timeout": 10, "application_name": "nas",
                                    "options": "-c search_path=public "
                                               "-c idle_in_transaction_session_timeout=30s",
                                    "keepalives": 1, "keepalives_idle": 10,
                                    "keepalives_interval": 5, "keepalives_count": 3,
                                    "tcp_user_timeout": 30000})


def optuna_storage(url: str, **kwargs):
    """An Optuna RDB storage on the same engine options as ours (one place to set them),
    whose trial heartbeat rides out database outages (nas.store.optuna_storage)."""
    from nas.store.optuna_storage import OutageTolerantRDBStorage

    return OutageTolerantRDBStorage(url, engine_kwargs=dict(ENGINE_OPTIONS), **kwargs)


_engines: dict[str, Engine] = {}
_lock = threading.Lock()


class DatabaseError(NasError):
    """A database failure, described in one line without secrets."""


class DatabaseUnavailable(DatabaseError):
    """The server could not be reached (down, restarting, partitioned): worth retrying."""


def engine_for(url: str) -> Engine:
    """One engine (and so one pool) per URL per process."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = sa.create_engine(urls.parse(url), **ENGINE_OPTIONS)
            _engines[url] = engine
        return engine


def dispose_all() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def describe(exc: BaseException) -> str:
    """The first line of a driver error, masked: enough to act on, nothing secret."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return urls.mask_text(text[0] if text else type(orig).__name__)


# Connection errors that waiting will not fix: wrong or missing credentials, missing
# database/role, a pooler (pgbouncer) refusing the startup `options` above.
POOLER_REFUSED = "unsupported startup parameter"
PERMANENT = ("password authentication failed", "does not exist", "no pg_hba.conf entry",
             "authentication failed", "permission denied", "no password supplied",
             POOLER_REFUSED)
POOLER_HINT = ("; behind pgbouncer, set ignore_startup_parameters = extra_float_digits, options "
               "(deploy/pgbouncer/pgbouncer.ini)")


def is_permanent(exc: BaseException) -> bool:
    if insufficient_resources(exc):
        return False  # whatever its message says: waiting may fix it
    return any(p in str(getattr(exc, "orig", None) or exc) for p in PERMANENT)


def insufficient_resources(exc: BaseException) -> bool:
    """SQLSTATE class 53, insufficient resources (disk_full 53100, out_of_memory 53200,
    too_many_connections 53300): the server is short of something that may come back
    (space freed, memory, connection slots), so the call is worth retrying, and a
    finished trial keeps its result and waits instead of being failed and re-run. Checked
    by code, before any message text (a message is free to say "does not exist")."""
    code = getattr(getattr(exc, "orig", None) or exc, "pgcode", None)
    return isinstance(code, str) and code.startswith("53")


def translate(exc: SQLAlchemyError, url: str | None = None) -> DatabaseError:
    where = f" at {urls.mask(url)}" if url else ""
    if is_permanent(exc):
        hint = POOLER_HINT if POOLER_REFUSED in describe(exc) else ""
        return DatabaseError(f"database refused us{where}: {describe(exc)}{hint}")
    if isinstance(exc, OperationalError) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return DatabaseUnavailable(f"cannot reach the database{where}: {describe(exc)}")
    return DatabaseError(f"database error{where}: {describe(exc)}")


def adopt_engine(url: str, engine: Engine) -> None:
    """Use an existing engine (Optuna's) for this URL, so a worker has one pool, not two."""
    with _lock:
        _engines[url] = engine
