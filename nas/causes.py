"""Walking an exception's cause chain: libraries wrap the error that matters (Optuna's
StorageInternalError around the driver's OperationalError, torch's RuntimeError around an
allocation failure), so every question about why something failed asks the whole chain."""
from __future__ import annotations

from typing import Callable


def find_cause(exc: BaseException | None,
               test: Callable[[BaseException], bool]) -> BaseException | None:
    """The first exception in `exc`'s chain (itself, then its cause or context, and so on)
    that passes `test`; None if none does. Chains can loop: each link is visited once."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if test(exc):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None
