"""Engines: one pool per URL per process, on the connection options every nas (and
Optuna, nas.store.optuna_storage) connection uses. What a database error means is
nas.store.errors; transactions are `Store.transaction()` (nas.store.store).
"""
from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlalchemy.engine import Engine

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

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


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


def adopt_engine(url: str, engine: Engine) -> None:
    """Use an existing engine (Optuna's) for this URL, so a worker has one pool, not two."""
    with _lock:
        _engines[url] = engine
