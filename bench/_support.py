"""Shared by the benchmarks: a throwaway PostgreSQL server and a nas environment."""
from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nas.store.embedded import Cluster  # noqa: E402


@contextmanager
def throwaway_postgres():
    """A private server for one benchmark run (fsync off: we measure nas, not the disk)."""
    base = Path(tempfile.mkdtemp(prefix="nas-bench-", dir="/tmp"))
    os.chmod(base, 0o755)
    cluster = Cluster(base / "data", settings={"fsync": "off", "max_connections": "300"})
    cluster.start()
    try:
        yield cluster.url.replace("postgresql://", "postgresql+psycopg2://")
    finally:
        cluster.stop()


def nas_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAS_")}
    env.update({"NAS_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}, **extra)
    return env


def sql(url: str, text: str, **params):
    """Run one statement in its own transaction; rows if it returns any."""
    import sqlalchemy as sa

    from nas.store.session import engine_for

    with engine_for(url).begin() as conn:
        result = conn.execute(sa.text(text), params)
        return result.all() if result.returns_rows else None
