"""Files under `$NAS_HOME`: where they are, and made private as they are made.

The embedded cluster, logs and fleet state live under one directory; `nas` run from a
subdirectory finds the project's, as git finds `.git`. (defaults.py only parses the
setting: looking at the disk and creating directories happens here.)
"""
from __future__ import annotations

import os
from pathlib import Path

from nas import defaults


def home() -> Path:
    """`$NAS_HOME`, else the nearest `.nas` holding a cluster in this directory or one above
    it, else `./.nas`; always absolute, so a subdirectory never quietly makes a second
    database."""
    setting = defaults.home_setting()
    if setting is not None:
        return setting
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / ".nas" / "pg").is_dir():
            return folder / ".nas"
    return here / ".nas"


def logs_dir(*parts: str) -> Path:
    """`$NAS_HOME/logs[/parts]`, every level from `logs` down 0700: logs name studies,
    hosts and the errors workers met, which are nobody else's business. ($NAS_HOME itself
    keeps its mode: as root, the `postgres` user must reach the cluster under it.)"""
    path = home() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    for part in parts:
        path = path / part
        path.mkdir(exist_ok=True)
        os.chmod(path, 0o700)
    return path


def private_log(path: Path):
    """Open a log for appending, created 0600 (its directory from `logs_dir`)."""
    return open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
