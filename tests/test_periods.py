"""The business-zone partitions: Dagster's lists of their keys, listed once a day per definition
(orchestration/periods.py `partition_keys_once_a_day`), are the lists Dagster itself gives."""

from datetime import UTC, datetime, timedelta

import pytest
from dagster import DailyPartitionsDefinition, HourlyPartitionsDefinition, MonthlyPartitionsDefinition

from orchestration.periods import Partitions
from orchestration.settings import Settings


@pytest.fixture(scope="module")
def partitions() -> Partitions:
    return Partitions.of(Settings.load())  # applies the memo


def _dagsters_own(definition, current_time):
    from dagster._core.definitions.partitions.definition.time_window import TimeWindowPartitionsDefinition

    return TimeWindowPartitionsDefinition.get_partition_keys.__wrapped__(definition, current_time=current_time)


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 12, 4, 5, 0, tzinfo=UTC),
        datetime(2026, 12, 4, 16, 30, tzinfo=UTC),  # past midnight in Shanghai: one more day
        datetime(2025, 3, 30, 0, 59, tzinfo=UTC),  # Berlin's spring-forward night
        datetime(2025, 10, 26, 1, 30, tzinfo=UTC),  # and its fall-back hour
    ],
)
def test_listed_keys_are_dagsters_own(partitions: Partitions, now: datetime) -> None:
    definitions = [
        *partitions.by_grain().values(),
        DailyPartitionsDefinition(start_date="2024-01-01", timezone="Europe/Berlin"),
        HourlyPartitionsDefinition(start_date="2025-03-28-00:00", timezone="Europe/Berlin"),
        MonthlyPartitionsDefinition(start_date="2020-01-01", timezone="Europe/Berlin", end_offset=1),
    ]
    for definition in definitions:
        expected = _dagsters_own(definition, now)
        assert definition.get_partition_keys(current_time=now) == expected
        assert definition.get_partition_keys(current_time=now) == expected  # the kept copy


def test_a_new_day_is_listed_and_a_caller_cannot_change_the_kept_list(partitions: Partitions) -> None:
    today = datetime(2026, 12, 4, 5, 0, tzinfo=UTC)
    keys = partitions.daily.get_partition_keys(current_time=today)
    keys.append("not a partition")
    again = partitions.daily.get_partition_keys(current_time=today)
    assert again[-1] == "2026-12-03" and "not a partition" not in again
    tomorrow = partitions.daily.get_partition_keys(current_time=today + timedelta(days=1))
    assert tomorrow == [*again, "2026-12-04"]
