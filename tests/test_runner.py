"""Which whole weeks and months a range of closed days holds: what the main command materialises."""

from __future__ import annotations

from datetime import date

import pytest

from orchestration.periods import PeriodRange


@pytest.mark.parametrize(
    ("first", "last", "weeks", "months"),
    [
        # Wed 2026-09-23 .. Tue 2026-11-24: weeks Mon 09-28 .. Mon 11-16 (ends Sun 11-22); October only
        (date(2026, 9, 23), date(2026, 11, 24), (date(2026, 9, 28), date(2026, 11, 16)), (date(2026, 10, 1),) * 2),
        # starting on a Monday and the 1st, ending on a Sunday and a month end
        (
            date(2026, 6, 1),
            date(2026, 8, 31),
            (date(2026, 6, 1), date(2026, 8, 24)),
            (date(2026, 6, 1), date(2026, 8, 1)),
        ),
        # a single week, no whole month
        (date(2026, 3, 23), date(2026, 3, 29), (date(2026, 3, 23),) * 2, None),
        # too short for either
        (date(2026, 3, 24), date(2026, 3, 29), None, None),
    ],
)
def test_whole_weeks_and_months(first: date, last: date, weeks: tuple | None, months: tuple | None) -> None:
    periods = PeriodRange(first, last)
    assert periods.weeks == weeks
    assert periods.months == months
