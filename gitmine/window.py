"""The time window of an analysis: ``--since 6months``, ``--until 2024-06-01``, ``--every 1w``.

git reads anything it does not understand (``--since bogus``) as "now", silently; gitmine parses
the forms itself and names the accepted ones when a value is wrong.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from .errors import UsageError

ACCEPTED = "a duration such as 6months, 2w, 90days, 1y, 12h, or an ISO date/datetime (2024-05-01, 2024-05-01T12:00:00Z)"
ALL = "all"  # --since all: the whole history
EVERY_CHOICES = ("commit", "1d", "1w", "tag")

_UNITS = {
    "h": "hours", "hour": "hours", "hours": "hours",
    "d": "days", "day": "days", "days": "days",
    "w": "weeks", "week": "weeks", "weeks": "weeks",
    "mo": "months", "month": "months", "months": "months",
    "y": "years", "year": "years", "years": "years",
}  # fmt: skip
_DURATION = re.compile(r"^\s*(\d+)\s*([a-z]+)(?:\s+ago)?\s*$")


def _minus_months(now: datetime, months: int) -> datetime:
    y, m = divmod(now.year * 12 + (now.month - 1) - months, 12)
    m += 1
    day = min(now.day, [31, 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1])
    return now.replace(year=y, month=m, day=day)


def parse_point(value: str, *, now: datetime, flag: str = "--since") -> datetime:
    """A point in time (timezone-aware, UTC if none given) from a duration before ``now`` or an ISO form."""
    text = value.strip().lower()
    if text == "now":
        return now
    m = _DURATION.match(text)
    if m:
        n, unit = int(m.group(1)), _UNITS.get(m.group(2))
        if unit is None:
            raise UsageError(f"{flag} {value!r}: unknown unit {m.group(2)!r}; use {ACCEPTED}")
        if unit == "months":
            return _minus_months(now, n)
        if unit == "years":
            return _minus_months(now, 12 * n)
        return now - timedelta(**{unit: n})
    point = iso_instant(value)
    if point is None:
        raise UsageError(f"{flag} {value!r} is not understood; use {ACCEPTED}")
    return point


def iso_instant(text: str) -> datetime | None:
    """An ISO date or datetime as an aware datetime (UTC when no zone is given); None if it is neither."""
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def bounds(since: str | None, until: str | None, *, now: datetime) -> tuple[datetime | None, datetime | None]:
    """``--since`` and ``--until`` as points in time, durations counted back from ``now``; None where
    not given (``--since all``: none)."""
    start = parse_point(since, now=now, flag="--since") if since and since.strip().lower() != ALL else None
    end = parse_point(until, now=now, flag="--until") if until else None
    if start is not None and end is not None and end < start:
        raise UsageError(f"--until ({end:%Y-%m-%d %H:%M}) is before --since ({start:%Y-%m-%d %H:%M}); swap them")
    return start, end


def check_forms(since: str | None, until: str | None) -> None:
    """Say now a ``--since`` or ``--until`` that gitmine cannot read, before it knows what ``now`` is."""
    epoch = datetime(2000, 1, 1, tzinfo=timezone.utc)
    if since and since.strip().lower() != ALL:
        parse_point(since, now=epoch, flag="--since")
    if until:
        parse_point(until, now=epoch, flag="--until")


def parse_window(since: str | None, until: str | None, *, now: datetime | None = None) -> tuple[datetime | None, datetime]:
    now = now or datetime.now(timezone.utc)
    start, end = bounds(since, until, now=now)
    if start is not None and end is None and now < start:
        raise UsageError(f"--since ({start:%Y-%m-%d %H:%M}) is in the future; give a date or duration in the past")
    return start, end or now


def check_every(every: str) -> str:
    if every not in EVERY_CHOICES:
        raise UsageError(f"--every {every!r} is not understood; use one of {', '.join(EVERY_CHOICES)}")
    return every
