"""Shared by the benchmarks: argument parsing and the nas.testing helpers they use
(a throwaway PostgreSQL server, the environment for nas commands, SQL)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: find nas

from nas.testing import ROOT, clean_env, throwaway_postgres  # noqa: E402
from nas.testing import query as sql  # noqa: E402

__all__ = ["ROOT", "nas_env", "parse_args", "sql", "throwaway_postgres"]


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
    """The environment for nas commands a bench starts: this nas, on `url`."""
    return clean_env(NAS_DATABASE_URL=url, PYTHONPATH=str(ROOT), **extra)
