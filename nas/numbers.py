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


def columns(header: list[str], rows: list[list[str]], right: tuple[int, ...] = ()) -> list[str]:
    """Header and rows as text columns as wide as their widest cell (a long task name or
    objective path widens its column instead of pushing the rest out of line); columns
    numbered in `right` align right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]

    def line(cells) -> str:
        return " ".join(f"{cell:>{w}}" if i in right else f"{cell:<{w}}"
                        for i, (cell, w) in enumerate(zip(map(str, cells), widths))).rstrip()
    return [line(header), *(line(r) for r in rows)]
