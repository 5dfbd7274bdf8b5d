"""The extraction window: a range of day partitions in the business time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from orchestration.settings import pipeline_settings


@dataclass(frozen=True)
class Window:
    """[start, end) as aware datetimes at business-day boundaries."""

    start: datetime
    end: datetime

    @classmethod
    def for_days(cls, first: date, last_inclusive: date) -> Window:
        tz = pipeline_settings().business_time_zone
        start = datetime(first.year, first.month, first.day, tzinfo=tz)
        nxt = last_inclusive + timedelta(days=1)
        return cls(start, datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz))

    @property
    def days(self) -> list[date]:
        tz = pipeline_settings().business_time_zone
        first = self.start.astimezone(tz).date()
        last = self.end.astimezone(tz).date()
        return [first + timedelta(days=i) for i in range((last - first).days)]
