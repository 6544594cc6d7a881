"""Shared by the benchmarks: a throwaway PostgreSQL server and a nas environment."""
from __future__ import annotations

import argparse
import os
import shutil
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
    try:
        cluster.start()
        yield cluster.url.replace("postgresql://", "postgresql+psycopg2://")
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


def parse_args(parser: argparse.ArgumentParser, smoke: dict) -> argparse.Namespace:
    """Add `--smoke`: tiny sizes (`smoke`, as parser defaults) that finish in seconds and
    still take every code path the full run measures; `make test` runs every bench so.
    Flags given explicitly still win over the smoke sizes."""
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes that finish in seconds (a check that the bench runs, "
                             "not a measurement)")
    known, _ = parser.parse_known_args()
    if known.smoke:
        parser.set_defaults(**smoke)
    return parser.parse_args()


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
