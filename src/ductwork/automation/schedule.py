"""When a schedule fires: ClearML's `add_task` time arguments (minute, hour, day, weekdays,
month, year) as a pure rule over naive UTC datetimes.

ClearML's reading of the arguments is kept: the longest unit given sets the period and the
shorter ones the time inside it ("hour=1, minute=30" is every hour at :30; "day=1, hour=22,
minute=30" is every day at 22:30; "month=1, day=5" the 5th of each month; a year above 2000 a
single date). Unlike ClearML, whose next time depends on when the previous run happened, every
slot here is a point of a fixed grid drawn from the schedule's anchor (the moment it was first
added). That is what lets a restarted scheduler tell which slots it already ran and which fell
while it was down: a slot is a time, not "a while after the last run".
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ductwork.core.errors import ValidationError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MAX_SLOTS = 1000  # a list of missed slots is cut here: a sane catch-up never needs more


@dataclass(frozen=True)
class Timing:
    """The time arguments of one schedule, checked (see `timing`)."""

    minute: float | None = None
    hour: int | None = None
    day: int | None = None
    weekdays: tuple[int, ...] = ()
    month: int | None = None
    year: int | None = None

    def next_after(self, anchor: datetime, after: datetime) -> datetime | None:
        """The first slot strictly after `after` (None: a one-time date already past)."""
        if self.year and self.year > 2000:
            once = _at(datetime(self.year, self.month or 1, 1), self.day or 1, self.hour, self.minute)
            return once if once > after else None
        if self.year or self.month:
            return self._calendar_next(anchor, after)
        if self.weekdays:
            return self._weekday_next(after)
        if self.day:
            start = _at(anchor.replace(day=1), anchor.day, self.hour, self.minute)
            return _grid_next(
                start if start >= anchor else start + timedelta(days=1), timedelta(days=self.day), after
            )
        if self.hour:
            start = anchor.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=self.minute or 0)
            step = timedelta(hours=self.hour)
            return _grid_next(start if start >= anchor else start + step, step, after)
        step = timedelta(minutes=float(self.minute or 0))
        return _grid_next(anchor + step, step, after)

    def slots_between(self, anchor: datetime, after: datetime, until: datetime) -> list[datetime]:
        """Every slot in (after, until], oldest first (at most the newest 1000)."""
        found: list[datetime] = []
        slot = self.next_after(anchor, after)
        while slot is not None and slot <= until:
            found.append(slot)
            if len(found) > _MAX_SLOTS:
                found.pop(0)
            slot = self.next_after(anchor, slot)
        return found

    def _calendar_next(self, anchor: datetime, after: datetime) -> datetime:
        """Every `month` months (on `day`), or every `year` years (in `month`, on `day`)."""
        every = 12 * self.year if self.year else int(self.month or 1)
        first_month = (self.month or 1) if self.year else anchor.month
        start = _at(datetime(anchor.year, first_month, 1), self.day or 1, self.hour, self.minute)
        if start < anchor:
            start = _month_slot(start, every, 1, self)
        if start > after:
            return start
        months = (after.year - start.year) * 12 + after.month - start.month
        k = max(months // every, 0)
        slot = _month_slot(start, every, k, self)
        while slot <= after:
            k += 1
            slot = _month_slot(start, every, k, self)
        return slot

    def _weekday_next(self, after: datetime) -> datetime | None:
        """On the given weekdays: at hour:minute once a day (day 0 or 1), or every `hour` hours
        (or `minute` minutes) from midnight, on those days only."""
        daily = self.day in (0, 1) or not (self.hour or self.minute)
        for days in range(8):
            date = (after + timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
            if date.weekday() not in self.weekdays:
                continue
            if daily:
                slot = _at(date.replace(day=1), date.day, self.hour, self.minute)
                if slot > after:
                    return slot
                continue
            step = timedelta(hours=self.hour) if self.hour else timedelta(minutes=float(self.minute or 0))
            start = date + (timedelta(minutes=self.minute or 0) if self.hour else timedelta(0))
            slot = _grid_next(start, step, max(after, start - step))
            if slot.date() == date.date():
                return slot
        return None


def _at(month_start: datetime, day: int, hour: int | None, minute: float | None) -> datetime:
    """`day` of that month (clamped to its last day: day=31 in February is the 28th or 29th)."""
    last = calendar.monthrange(month_start.year, month_start.month)[1]
    return month_start.replace(
        day=min(day, last), hour=hour or 0, minute=int(minute or 0), second=0, microsecond=0
    )


def _month_slot(start: datetime, every: int, k: int, timing: Timing) -> datetime:
    index = start.month - 1 + every * k
    month_start = datetime(start.year + index // 12, index % 12 + 1, 1)
    return _at(month_start, timing.day or 1, timing.hour, timing.minute)


def _grid_next(start: datetime, step: timedelta, after: datetime) -> datetime:
    """The first of start, start + step, ... strictly after `after` (arithmetic, no loop)."""
    if start > after:
        return start
    k = math.floor((after - start) / step) + 1
    return start + k * step


def timing(
    minute: float | None = None,
    hour: float | None = None,
    day: float | None = None,
    weekdays: Sequence[str | int] | None = None,
    month: float | None = None,
    year: float | None = None,
) -> Timing:
    """Check ClearML's time arguments; each error names the argument and what it takes."""
    if weekdays is not None and (isinstance(weekdays, str) or not weekdays):
        raise ValidationError(f"weekdays must be a list of day names {WEEKDAYS}, got {weekdays!r}")
    days = tuple(_weekday(w) for w in weekdays or ())
    if days and day not in (None, 0, 1):
        raise ValidationError(f"day={day!r} with weekdays: day must be None, 0 or 1 (once a day)")
    if not (minute or hour or day or month or year or days):
        raise ValidationError("no schedule time given: set minute, hour, day, weekdays, month or year")
    larger = bool(hour or day or month or year or days)
    if larger:  # minute is then the minute of the hour, as in ClearML
        _whole("minute", minute, 0, 59)
    elif minute is not None and (
        isinstance(minute, bool) or not isinstance(minute, (int, float)) or minute <= 0
    ):
        raise ValidationError(f"minute must be a positive number of minutes, got {minute!r}")
    has_period_above = bool(day or month or year)
    _whole("hour", hour, 0 if has_period_above else 1, 23 if has_period_above else 10_000)
    _whole("day", day, 0 if days else 1, 31 if (month or year) else 10_000)
    _whole("month", month, 1, 12 if year else 10_000)
    _whole("year", year, 1, 9999)
    return Timing(
        minute=minute if larger or minute is None else float(minute),
        hour=int(hour) if hour else None,
        day=int(day) if day is not None else None,
        weekdays=days,
        month=int(month) if month else None,
        year=int(year) if year else None,
    )


def _whole(name: str, value: float | None, low: int, high: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise ValidationError(f"{name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ValidationError(f"{name}={value!r} is out of range: here it takes {low}..{high}")


def _weekday(value: str | int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    if isinstance(value, str) and value.lower() in WEEKDAYS:
        return WEEKDAYS.index(value.lower())
    raise ValidationError(f"weekdays: {value!r} is not a day name {WEEKDAYS} (or 0..6)")
