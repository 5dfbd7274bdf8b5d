"""The business-zone partitions: Dagster's lists of their keys, listed once a day per definition
(orchestration/periods.py `partition_keys_once_a_day`), are the lists Dagster itself gives; the subsets of
keys, merged as runs of adjacent windows (`subsets_merged_once`), are the subsets Dagster itself builds."""

from datetime import UTC, datetime, timedelta

import pytest
from dagster import (
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    MonthlyPartitionsDefinition,
    PartitionKeyRange,
    WeeklyPartitionsDefinition,
)

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


def _subset_as_dagster_builds_it(definition, keys):
    from dagster._core.definitions.partitions.subset.time_window import TimeWindowPartitionsSubset

    empty = definition.empty_subset()
    windows, count = TimeWindowPartitionsSubset._add_partitions_to_time_windows.__wrapped__(empty, [], list(keys))
    return TimeWindowPartitionsSubset(definition, num_partitions=count, included_time_windows=windows)


def test_a_subset_of_keys_is_the_subset_dagster_builds(partitions: Partitions) -> None:
    berlin_days = DailyPartitionsDefinition(start_date="2025-03-01", end_date="2025-11-30", timezone="Europe/Berlin")
    berlin_hours = HourlyPartitionsDefinition(start_date="2025-03-29-00:00", end_date="2025-04-01-00:00",
                                              timezone="Europe/Berlin")  # fmt: skip
    weeks = WeeklyPartitionsDefinition(start_date="2024-01-01", end_date="2025-06-30", day_offset=1)
    whole = berlin_days.get_partition_keys_in_range(PartitionKeyRange("2025-03-01", "2025-11-29"))
    hours = berlin_hours.get_partition_keys()  # across the spring-forward night
    cases = [
        (partitions.daily, partitions.daily.get_partition_keys_in_range(PartitionKeyRange("2020-01-01", "2024-12-31"))),
        (partitions.monthly, ["2021-03-01", "2021-01-01", "2021-02-01", "2021-06-01"]),  # unsorted, with a gap
        (berlin_days, whole),  # the whole definition, both DST changes inside
        (berlin_days, [k for i, k in enumerate(whole) if i % 7 not in (2, 3)]),  # many runs
        (berlin_days, [*whole[:10], "2025-3-5", "2025-03-05"]),  # a key given twice, in two spellings
        (berlin_days, [*whole[-3:], "2025-12-01", "2025-12-02"]),  # beyond the end: dropped when validated
        (berlin_hours, hours),
        (berlin_hours, hours[20:40]),
        (weeks, weeks.get_partition_keys()[5:30]),
        (partitions.daily, ["2026-01-05"]),
        (partitions.daily, []),
    ]
    for definition, keys in cases:
        expected = _subset_as_dagster_builds_it(definition, keys)
        built = definition.empty_subset().with_partition_keys(keys)
        assert built.included_time_windows == expected.included_time_windows, keys[:3]
        assert built.num_partitions == expected.num_partitions and len(built) == len(expected), keys[:3]
        assert list(built.get_partition_keys()) == list(expected.get_partition_keys())
    # Into a subset that already holds windows: Dagster's own merge
    gap = partitions.daily.empty_subset().with_partition_keys(["2024-01-01", "2024-01-03"])
    filled = gap.with_partition_keys(["2024-01-02"])
    assert len(filled.included_time_windows) == 1 and len(filled) == 3
