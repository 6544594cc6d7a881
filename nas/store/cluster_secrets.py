"""The embedded cluster's generated passwords, one 0600 file per role in a 0700 folder.

With `trust` any local OS account could connect to the embedded cluster as its superuser
and run `COPY ... TO PROGRAM` as `postgres`. So the cluster authenticates every
connection with scram-sha-256; the passwords are generated here on first use and never
printed (URLs are masked). Roles:

    nas_admin   the superuser, used only to create the database and the roles below
    nas_owner   owns the `nas` database and everything nas and Optuna create in it; not a
                superuser, cannot create roles or databases: the URL nas uses and prints
    nas_reader  the analyst role: SELECT on the nas views (migration 0004)
"""
from __future__ import annotations

import os
import secrets
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ADMIN, OWNER, READER = "nas_admin", "nas_owner", "nas_reader"


class ClusterSecrets:
    def __init__(self, folder: Path):
        self.folder = folder

    def exists(self) -> bool:
        return (self.folder / ADMIN).exists()

    def password(self, role: str) -> str:
        """The role's password, generated (and stored 0600) the first time it is asked."""
        path = self.folder / role
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            os.chmod(self.folder, 0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(24))
        return path.read_text().strip()

    @property
    def pgpass(self):
        return self.folder / "pgpass"

    def write_pgpass(self) -> None:
        """A libpq password file for the owner and reader roles, so a URL without a
        password works in psql, psycopg, SQLAlchemy, Optuna and optuna-dashboard alike
        once PGPASSFILE names it (libpq reads it; it must be 0600)."""
        lines = [f"127.0.0.1:*:*:{role}:{self.password(role)}" for role in (OWNER, READER)]
        fd = os.open(self.pgpass, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("\n".join(lines) + "\n")

    @contextmanager
    def pwfile(self, role: str, owner_uid: int | None, owner_gid: int | None) -> Iterator[str]:
        """The password in a short-lived file `initdb --pwfile` can read (as root it runs
        as `postgres`, which may not enter our 0700 folder)."""
        fd, name = tempfile.mkstemp(prefix="nas-pw-")
        try:
            with os.fdopen(fd, "w") as out:
                out.write(self.password(role) + "\n")
            if owner_uid is not None:
                os.chown(name, owner_uid, owner_gid)
            yield name
        finally:
            os.unlink(name)
