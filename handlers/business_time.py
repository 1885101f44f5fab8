"""Time that counts for an SLA: the team's business hours, in the team's time zone.

A message on Saturday night is not late on Saturday night: only the configured business days,
between business_hours_start and business_hours_end local time, and never on a holiday, count.
Pure functions over `SLASection`; no I/O.

Work is per local calendar day (O(days), never O(minutes)). Every window is turned into UTC
instants before subtracting, because subtracting two aware datetimes that share a `ZoneInfo`
compares wall clocks and would be an hour off across a DST change. A business hour that does
not exist (inside a spring-forward gap) maps to the instant zoneinfo gives it (the clock before
the change); an ambiguous one (inside a fall-back fold) counts as its first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config_schema import SLASection

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MINUTE = timedelta(minutes=1)


def _aware_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


def _windows(first: date, sla: SLASection) -> Iterator[tuple[datetime, datetime]]:
    """(open, close) in UTC for each business day from `first` on (local dates), forever."""
    zone = ZoneInfo(sla.timezone)
    days = {WEEKDAYS.index(name) for name in sla.business_days}
    holidays = set(sla.holidays)
    day = first
    while True:
        if day.weekday() in days and day not in holidays:
            opens = datetime.combine(day, sla.business_hours_start, tzinfo=zone)
            closes = datetime.combine(day, sla.business_hours_end, tzinfo=zone)
            opens, closes = opens.astimezone(UTC), closes.astimezone(UTC)
            if closes > opens:
                yield opens, closes
        day += timedelta(days=1)


def _local_date(instant: datetime, sla: SLASection) -> date:
    # A window may start on the previous local date only if hours cross midnight, which the
    # config forbids (end > start); one day of slack keeps DST edge cases safe anyway.
    return instant.astimezone(ZoneInfo(sla.timezone)).date() - timedelta(days=1)


def business_minutes_between(start: datetime, end: datetime, sla: SLASection) -> float:
    """Business minutes from `start` to `end` (aware datetimes); 0 when `end <= start`."""
    start, end = _aware_utc(start, "start"), _aware_utc(end, "end")
    if end <= start or not sla.business_days:
        return 0.0
    total = timedelta()
    for opens, closes in _windows(_local_date(start, sla), sla):
        if opens >= end:
            break
        overlap = min(closes, end) - max(opens, start)
        if overlap > timedelta():
            total += overlap
    return total / _MINUTE


def business_deadline(start: datetime, minutes: float, sla: SLASection) -> datetime:
    """The UTC instant at which `minutes` business minutes will have passed since `start`.

    `minutes <= 0` gives `start` itself. The inverse of `business_minutes_between`:
    `business_minutes_between(start, business_deadline(start, m, sla), sla) == m` (up to the
    microsecond rounding of datetimes). A positive deadline always falls inside business hours.
    """
    start = _aware_utc(start, "start")
    if minutes <= 0:
        return start
    if not sla.business_days:
        raise ValueError("no business days configured: business time never passes")
    remaining = timedelta(minutes=minutes)
    for opens, closes in _windows(_local_date(start, sla), sla):
        if closes <= start:
            continue
        begin = max(opens, start)
        available = closes - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    raise AssertionError("unreachable: _windows never ends")  # pragma: no cover
