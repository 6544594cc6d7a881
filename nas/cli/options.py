"""Options shared by several commands, and `connect()`: which database a command uses.

The spec flags are derived from `StudySpec`'s fields (their metadata names each flag), so
adding a spec field adds its flag, its column and its comparison in one place.
"""
from __future__ import annotations

import functools
from dataclasses import MISSING, fields

import click
from click.core import ParameterSource

from nas.defaults import MAX_INT, MAX_THREADS
from nas.spec import StudySpec
from nas.store import url as urls

# The one --storage flag every database command takes.
STORAGE = click.option("--storage", help="database URL (default: NAS_DATABASE_URL, else embedded)")
THREADS = click.option("--threads", type=click.IntRange(min=1, max=MAX_THREADS), default=None,
                       help="torch threads per worker (default: NAS_THREADS, else cores // workers)")
DEVICE = click.option("--device", default=None,
                      help="torch device: cpu (default: NAS_DEVICE, else cpu), cuda, cuda:N")


def resolve(storage: str | None, create: bool = True) -> str:
    """--storage > NAS_DATABASE_URL > the embedded cluster, started on demand. Only commands
    that write (`create`) may make a new cluster, and they say where; a read-only command
    such as `nas status` never makes one just to report that it is empty."""
    explicit = urls.explicit_url(storage)
    return urls.normalize(explicit or _embedded(create))


def _embedded(create: bool) -> str:
    from nas.errors import NasError
    from nas.store.embedded import EmbeddedDB

    emb = EmbeddedDB()
    existed = emb.cluster.initialized()
    if not existed and not create:
        raise NasError(f"no nas database here: none under {emb.home} (nor in a .nas above this "
                       "directory); create a study first, or set NAS_HOME or NAS_DATABASE_URL")
    url = emb.start()
    if not existed:
        click.echo(f"nas: created the embedded PostgreSQL cluster in {emb.cluster.datadir} "
                   "(set NAS_HOME to keep it elsewhere)", err=True)
    return url


# --priority: a PostgreSQL integer, either sign.
PRIORITY = click.option("--priority", type=click.IntRange(min=-MAX_INT - 1, max=MAX_INT),
                        default=0, show_default=True, help="workers serve higher priorities first")


def connect(storage: str | None, create: bool = True):
    """The `Store` a command talks to (`create=False` for read-only commands)."""
    from nas.store import Store

    return Store(resolve(storage, create))


def _spec_option(f):
    meta = f.metadata
    if meta["choices"]:
        kind = click.Choice(meta["choices"])
    elif meta["minimum"] is not None:
        kind = click.IntRange(min=meta["minimum"], max=MAX_INT)
    else:
        kind = meta["kind"]
    if meta["multiple"]:
        return click.option(*meta["flags"], f.name, type=kind, multiple=True, help=meta["help"])
    default = None if f.default is MISSING else f.default
    return click.option(*meta["flags"], f.name, type=kind, default=default,
                        show_default=default is not None, help=meta["help"])


SPEC_OPTIONS = [_spec_option(f) for f in fields(StudySpec)]


def spec_options(func):
    """Every StudySpec flag, in field order."""
    return functools.reduce(lambda f, opt: opt(f), reversed(SPEC_OPTIONS), func)


def spec_from_options(flags: dict) -> StudySpec:
    """Take the spec's flags out of a command's keyword arguments."""
    return StudySpec(**{f.name: flags.pop(f.name) for f in fields(StudySpec)})


def given_spec_fields() -> frozenset[str]:
    """The spec flags this command line set (typed, or from the environment). Resuming a
    study compares only those with the stored spec; the rest are taken from it, so
    `nas search NAME` alone continues NAME as it was created."""
    ctx = click.get_current_context()
    return frozenset(f.name for f in fields(StudySpec)
                     if ctx.get_parameter_source(f.name) not in (None, ParameterSource.DEFAULT,
                                                                 ParameterSource.DEFAULT_MAP))
