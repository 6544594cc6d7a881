"""Which database a command uses: --storage > NAS_DATABASE_URL > the embedded cluster."""
from __future__ import annotations

from nas.store import url as urls
from nas.store.embedded import EmbeddedDB


def resolve(storage: str | None) -> str:
    explicit = urls.explicit_url(storage)
    return urls.normalize(explicit or EmbeddedDB().start())
