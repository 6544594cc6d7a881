"""Numbers as people read them in a terminal: 23,929 evaluations, not 2.393e+04."""
from __future__ import annotations

import datetime as dt
import math


def readable(value: float | None) -> str:
    """Large values with thousands separators (one decimal unless whole, so values that
    differ do not print alike), small ones to 4 significant digits."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
    return f"{value:.4g}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return str(dt.timedelta(seconds=round(seconds)))


def share(value) -> str | None:
    """A stored fraction (a trial's `success_rate` user attribute) as a percentage; None
    for anything that is not a finite number, which any objective may have written there."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return f"{value:.0%}"
