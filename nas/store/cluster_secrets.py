"""The embedded cluster's generated passwords, one 0600 file per role in a 0700 folder.

With `trust` any local OS account could connect to the embedded cluster as its superuser
and run `COPY ... TO PROGRAM` as `postgres`. So the cluster authenticates every
connection with scram-sha-256; the passwords are generated here once, when the cluster is
first initialised, and never printed (URLs are masked). After that a missing or empty
secret is an error naming its file: a new password would not match the one the cluster
holds, and every connection would then fail authentication. Roles:

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

from nas.errors import NasError

ADMIN, OWNER, READER = "nas_admin", "nas_owner", "nas_reader"
ROLES = (ADMIN, OWNER, READER)


class ClusterSecrets:
    def __init__(self, folder: Path):
        self.folder = folder

    def exists(self) -> bool:
        return (self.folder / ADMIN).exists()

    def generate(self) -> None:
        """Make every role's password (0600, in a 0700 folder) that is not there yet. Only
        for a cluster about to be initialised: the passwords go into initdb and the roles."""
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        for role in ROLES:
            try:
                fd = os.open(self.folder / role, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(24))

    def check(self) -> None:
        """Fail, naming the file, unless every role's password can be read: before anything
        is started, so a lost secret never leaves a half-started cluster behind."""
        for role in ROLES:
            self.password(role)

    def password(self, role: str) -> str:
        """The role's password. Never generated here: see the module's docstring."""
        path = self.folder / role
        try:
            value = path.read_text().strip()
        except FileNotFoundError:
            problem = "is missing"
        except OSError as exc:
            problem = f"cannot be read ({exc.strerror})"
        else:
            if value:
                return value
            problem = "is empty"
        raise NasError(
            f"{path} {problem}: it holds the embedded cluster's {role} password, made once "
            f"when the cluster was created; restore it from a backup of {self.folder} "
            "(nas will not make a new one: it would not match the cluster's)")

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
