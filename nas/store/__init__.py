"""The database shared by coordinator and worker: `Store(url)` is the one handle."""
from nas.store.errors import DatabaseError, DatabaseUnavailable
from nas.store.store import Store

__all__ = ["DatabaseError", "DatabaseUnavailable", "Store"]
