"""Options shared by several commands, and `connect()`: which database a command uses.

The spec flags are derived from `StudySpec`'s fields (their metadata names each flag), so
adding a spec field adds its flag, its column and its comparison in one place.
"""
from __future__ import annotations

import functools
from dataclasses import MISSING, fields

import click

from nas.spec import StudySpec
from nas.store import url as urls

# The one --storage flag every database command takes.
STORAGE = click.option("--storage", help="database URL (default: NAS_DATABASE_URL, else embedded)")
THREADS = click.option("--threads", type=click.IntRange(min=1), default=None,
                       help="torch threads per worker (default: NAS_THREADS, else cores // workers)")
DEVICE = click.option("--device", default=None,
                      help="torch device: cpu (default: NAS_DEVICE, else cpu), cuda, cuda:N")


def resolve(storage: str | None) -> str:
    """--storage > NAS_DATABASE_URL > the embedded cluster (started on demand)."""
    from nas.store.embedded import EmbeddedDB

    explicit = urls.explicit_url(storage)
    return urls.normalize(explicit or EmbeddedDB().start())


def connect(storage: str | None):
    """The `Store` a command talks to."""
    from nas.store import Store

    return Store(resolve(storage))


def _spec_option(f):
    meta = f.metadata
    if meta["choices"]:
        kind = click.Choice(meta["choices"])
    elif meta["minimum"] is not None:
        kind = click.IntRange(min=meta["minimum"])
    else:
        kind = meta["kind"]
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
