"""UTC hours and days as the statistics keep them, and runs of them as time ranges."""

from collections.abc import Iterable
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

Ranges = list[tuple[datetime, datetime]]


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floored = floor_hour(moment)
    return floored if floored == moment else floored + HOUR


def floor_day(moment: datetime) -> datetime:
    return floor_hour(moment).replace(hour=0)


def ceil_day(moment: datetime) -> datetime:
    floored = floor_day(moment)
    return floored if floored == moment else floored + DAY


def merge(starts: Iterable[datetime], length: timedelta = HOUR) -> Ranges:
    """Ranges covering the spans of `length` starting at `starts`, adjacent ones joined."""
    ranges: Ranges = []
    for start in sorted(set(starts)):
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], start + length)
        else:
            ranges.append((start, start + length))
    return ranges
