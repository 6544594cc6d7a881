"""The database shared by coordinator and worker."""
from nas.store.session import DatabaseError, DatabaseUnavailable, session_scope

__all__ = ["DatabaseError", "DatabaseUnavailable", "session_scope"]
