"""Which database a command talks to, and how its URL may be printed.

Resolution order is `--storage` > `NAS_DATABASE_URL` > the embedded cluster under
`$NAS_HOME`. Every URL that reaches a terminal, a log or a process title goes through
`mask()` first, so a password never leaves the process.
"""
from __future__ import annotations

import os
import re

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from nas import defaults
from nas.defaults import ENV_PASSWORD_FILE, ENV_URL
from nas.errors import NasError

_SCHEMES = ("postgresql", "postgresql+psycopg2", "postgres")
DRIVER = "postgresql+psycopg2"


def parse(url: str) -> URL:
    """Parse and check a PostgreSQL URL, rejecting anything else with a clear message."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise NasError(f"malformed database URL: {mask_text(url)!r}") from None
    if parsed.drivername not in _SCHEMES:
        raise NasError(
            f"unsupported database URL scheme {parsed.drivername!r}: "
            "use postgresql://user:password@host:port/dbname"
        )
    if not parsed.host or not parsed.database:
        raise NasError(f"database URL needs a host and a database name: {mask(parsed)}")
    return parsed.set(drivername=DRIVER)


def normalize(url: str) -> str:
    """The URL as SQLAlchemy and Optuna should get it: always the psycopg2 driver
    (SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which we do not ship)."""
    return parse(url).render_as_string(hide_password=False)


def for_libpq(url: str) -> str:
    """The form psql and other libpq tools accept (no +driver suffix)."""
    return parse(url).set(drivername="postgresql").render_as_string(hide_password=False)


def without_password(url: URL) -> URL:
    """The same URL with no password. (`URL.set(password=None)` keeps the old one: None
    there means "unchanged".)"""
    return url._replace(password=None)


def mask(url: URL | str) -> str:
    """Render a URL for people: libpq form, password replaced by ***."""
    if isinstance(url, str):
        return mask_text(url.replace(DRIVER + "://", "postgresql://"))
    return url.set(drivername="postgresql").render_as_string(hide_password=True)


# The password runs to the '@' before the host. It may hold spaces (a raw password in a
# malformed URL still reaches error messages); it never holds '/' or a line break, which
# keeps "host:5432/db ... user@example" out of the match.
_PASSWORD_IN_URL = re.compile(r"(\w[\w+.-]*://[^:/@\s]*:)([^@/\n]*)(@)")


def mask_text(text: str) -> str:
    """Mask every user:password@ found in free text (error messages, command lines)."""
    return _PASSWORD_IN_URL.sub(r"\1***\3", text)


def explicit_url(storage: str | None) -> str | None:
    """The URL given by flag or environment, or None when the embedded cluster applies.

    A URL without a password takes one from NAS_DATABASE_PASSWORD_FILE (a Docker secret),
    so no password needs to sit in an environment variable or a compose file.
    """
    if storage and parse(storage).password is not None:
        raise NasError("a password in --storage is visible to every local user in `ps`: put the "
                       f"URL in {ENV_URL}, or the password in a file named by {ENV_PASSWORD_FILE}")
    url = storage or defaults.database_url()
    secret = defaults.password_file()
    if url and secret:
        parsed = parse(url)
        if parsed.password is None:
            try:
                password = open(secret).read().strip()
            except OSError as exc:
                raise NasError(f"cannot read {ENV_PASSWORD_FILE} {secret}: {exc.strerror}") from None
            url = parsed.set(password=password).render_as_string(hide_password=False)
    return url
