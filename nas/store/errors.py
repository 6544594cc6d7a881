"""What a database error means, in one place.

    unavailable   the server cannot be reached (down, restarting, partitioned) or is short
                  of resources for now (SQLSTATE class 53): worth retrying (nas.store.retry)
    permanent     waiting will not fix it: wrong or missing credentials, a missing
                  database or role, a pooler refusing our startup options
    anything else a constraint violation, a bug: raised at once

`translate()` turns SQLAlchemy/psycopg2 errors into `DatabaseError` (a NasError) with a
one-line, password-free message: the CLI prints it and exits non-zero instead of showing
a traceback. `describe()` is that line, for logs.
"""
from __future__ import annotations

import psycopg2
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from nas.causes import find_cause
from nas.errors import NasError
from nas.store import url as urls


class DatabaseError(NasError):
    """A database failure, described in one line without secrets."""


class DatabaseUnavailable(DatabaseError):
    """The server could not be reached (down, restarting, partitioned): worth retrying."""


def describe(exc: BaseException) -> str:
    """The first line of a driver error, masked: enough to act on, nothing secret."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return urls.mask_text(text[0] if text else type(orig).__name__)


# Connection errors that waiting will not fix: wrong or missing credentials, missing
# database/role, a pooler (pgbouncer) refusing the startup `options` (nas.store.session).
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


def is_unavailable(exc: BaseException) -> bool:
    """True for 'cannot reach / lost the server', whoever raised it. Optuna wraps driver
    errors (StorageInternalError from OperationalError), so the cause chain is searched."""
    return find_cause(exc, _unavailable) is not None


def root_cause(exc: BaseException) -> BaseException:
    """The error that made `exc` an outage (the driver's OperationalError behind Optuna's
    StorageInternalError, or behind the UnboundLocalError Optuna raises when its own FAIL
    write also fails), for the log; `exc` itself when there is none."""
    return find_cause(exc, _unavailable) or exc


def _unavailable(exc: BaseException) -> bool:
    if isinstance(exc, DatabaseUnavailable) or insufficient_resources(exc):
        return True
    if is_permanent(exc):
        return False
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, (OperationalError, psycopg2.OperationalError, psycopg2.InterfaceError))


def translate(exc: SQLAlchemyError, url: str | None = None) -> DatabaseError:
    where = f" at {urls.mask(url)}" if url else ""
    if is_permanent(exc):
        hint = POOLER_HINT if POOLER_REFUSED in describe(exc) else ""
        return DatabaseError(f"database refused us{where}: {describe(exc)}{hint}")
    if isinstance(exc, OperationalError) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return DatabaseUnavailable(f"cannot reach the database{where}: {describe(exc)}")
    return DatabaseError(f"database error{where}: {describe(exc)}")
