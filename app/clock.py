"""The application clock.

All domain code asks this module for the time, never ``datetime.now`` directly, so a
scenario run or a test can advance time (publicity windows, deadlines) without waiting.
Times are naive UTC in the database; templates convert to China Standard Time.
"""

from __future__ import annotations

import datetime as dt

_offset = dt.timedelta(0)
CST = dt.timezone(dt.timedelta(hours=8), "CST")


def now() -> dt.datetime:
    """Current time as naive UTC (the storage convention)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None) + _offset


def advance(delta: dt.timedelta) -> None:
    global _offset
    _offset += delta


def reset() -> None:
    global _offset
    _offset = dt.timedelta(0)


def offset() -> dt.timedelta:
    return _offset


def to_local(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC).astimezone(CST)


def add_working_days(start: dt.datetime, days: int) -> dt.datetime:
    """``days`` working days (Mon–Fri) after ``start``, counted in China Standard Time."""
    local = start.replace(tzinfo=dt.UTC).astimezone(CST)
    remaining = days
    while remaining > 0:
        local += dt.timedelta(days=1)
        if local.weekday() < 5:
            remaining -= 1
    return local.astimezone(dt.UTC).replace(tzinfo=None)
