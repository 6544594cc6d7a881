"""Which database a command uses: --storage > NAS_DATABASE_URL > the embedded cluster."""
from __future__ import annotations

import click

from nas.store import url as urls
from nas.store.embedded import EmbeddedDB

# The one --storage flag every database command takes.
STORAGE = click.option("--storage", help="database URL (default: NAS_DATABASE_URL, else embedded)")


def resolve(storage: str | None) -> str:
    explicit = urls.explicit_url(storage)
    return urls.normalize(explicit or EmbeddedDB().start())
