"""The time rule of a schedule on fixed datetimes (UTC): intervals, calendar times, weekdays,
month ends, one-time dates, and bad arguments named in the error."""

from __future__ import annotations

from datetime import datetime

import pytest

from ductwork.automation.schedule import timing
from ductwork.core.errors import ValidationError

ANCHOR = datetime(2026, 1, 30, 10, 45, 12)  # a Friday


def firings(n: int, anchor: datetime = ANCHOR, **when: object) -> list[datetime]:
    rule = timing(**when)  # type: ignore[arg-type]
    found: list[datetime] = []
    after = anchor
    for _ in range(n):
        slot = rule.next_after(anchor, after)
        assert slot is not None
        found.append(slot)
        after = slot
    return found


def test_minutes_alone_are_an_interval_from_the_anchor() -> None:
    assert firings(3, minute=15) == [
        datetime(2026, 1, 30, 11, 0, 12),
        datetime(2026, 1, 30, 11, 15, 12),
        datetime(2026, 1, 30, 11, 30, 12),
    ]
    # fractions of a minute: seconds-long intervals
    assert firings(2, minute=0.05) == [datetime(2026, 1, 30, 10, 45, 15), datetime(2026, 1, 30, 10, 45, 18)]


def test_every_hour_at_half_past() -> None:
    assert firings(3, hour=1, minute=30) == [
        datetime(2026, 1, 30, 11, 30),
        datetime(2026, 1, 30, 12, 30),
        datetime(2026, 1, 30, 13, 30),
    ]


def test_every_day_at_a_time_and_every_other_day() -> None:
    daily = firings(2, day=1, hour=22, minute=30)
    assert daily == [datetime(2026, 1, 30, 22, 30), datetime(2026, 1, 31, 22, 30)]
    # 7:30 has passed on the 30th: the first is the next morning, then every two days
    assert firings(3, day=2, hour=7, minute=30) == [
        datetime(2026, 1, 31, 7, 30),
        datetime(2026, 2, 2, 7, 30),
        datetime(2026, 2, 4, 7, 30),
    ]


def test_monthly_on_the_31st_falls_on_each_month_end() -> None:
    assert firings(4, month=1, day=31, hour=6) == [
        datetime(2026, 1, 31, 6, 0),
        datetime(2026, 2, 28, 6, 0),
        datetime(2026, 3, 31, 6, 0),
        datetime(2026, 4, 30, 6, 0),
    ]
    leap = datetime(2028, 1, 31, 7, 0)
    in_leap_year = firings(2, leap, month=1, day=31, hour=6)
    assert in_leap_year == [datetime(2028, 2, 29, 6, 0), datetime(2028, 3, 31, 6, 0)]


def test_every_third_month_on_the_fifth() -> None:
    assert firings(3, month=3, day=5) == [datetime(2026, 4, 5), datetime(2026, 7, 5), datetime(2026, 10, 5)]


def test_yearly_and_a_single_date() -> None:
    assert firings(2, year=1, month=3, day=4) == [datetime(2026, 3, 4), datetime(2027, 3, 4)]
    once = timing(year=2026, month=6, day=1, hour=9)
    assert once.next_after(ANCHOR, ANCHOR) == datetime(2026, 6, 1, 9, 0)
    assert once.next_after(ANCHOR, datetime(2026, 6, 1, 9, 0)) is None


def test_weekdays_once_a_day_at_a_time() -> None:
    # Saturday 8:30 and Monday 8:30 (day=0 as in ClearML's example)
    assert firings(3, minute=30, hour=8, day=0, weekdays=["saturday", "monday"]) == [
        datetime(2026, 1, 31, 8, 30),
        datetime(2026, 2, 2, 8, 30),
        datetime(2026, 2, 7, 8, 30),
    ]


def test_every_two_hours_on_weekends_only() -> None:
    got = firings(14, hour=2, weekdays=["saturday", "sunday"])
    assert got[0] == datetime(2026, 1, 31, 0, 0)
    assert got[11] == datetime(2026, 1, 31, 22, 0)
    assert got[12] == datetime(2026, 2, 1, 0, 0)
    assert all(t.weekday() in (5, 6) for t in got)
    weekends = timing(hour=2, weekdays=["saturday", "sunday"])
    after_sunday = weekends.next_after(ANCHOR, datetime(2026, 2, 1, 22, 0))
    assert after_sunday == datetime(2026, 2, 7, 0, 0)


def test_slots_between_lists_the_missed_ones() -> None:
    rule = timing(minute=10)
    slots = rule.slots_between(ANCHOR, ANCHOR, datetime(2026, 1, 30, 11, 20))
    assert slots == [
        datetime(2026, 1, 30, 10, 55, 12),
        datetime(2026, 1, 30, 11, 5, 12),
        datetime(2026, 1, 30, 11, 15, 12),
    ]


@pytest.mark.parametrize(
    ("when", "named"),
    [
        ({"hour": 2, "minute": 75}, "minute=75"),
        ({"day": 1, "hour": 25}, "hour=25"),
        ({"month": 1, "day": 32}, "day=32"),
        ({"year": 1, "month": 13}, "month=13"),
        ({"hour": 1.5}, "hour must be a whole number"),
        ({"minute": -5}, "minute must be a positive"),
        ({"weekdays": ["funday"]}, "weekdays: 'funday'"),
        ({"weekdays": "monday"}, "weekdays must be a list"),
        ({"weekdays": ["monday"], "day": 3}, "day=3 with weekdays"),
        ({}, "no schedule time given"),
    ],
)
def test_bad_time_arguments_name_the_argument(when: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError, match=named.replace("(", r"\(")):
        timing(**when)  # type: ignore[arg-type]
