"""Day, ISO-week (Monday first) and month partitions, drawn in the business time zone."""

from dagster import DailyPartitionsDefinition, MonthlyPartitionsDefinition, WeeklyPartitionsDefinition

from orchestration.settings import pipeline_settings

_settings = pipeline_settings()
_start = _settings.history_start.isoformat()
_tz = _settings.business_time_zone.key

daily_partitions = DailyPartitionsDefinition(start_date=_start, timezone=_tz)
weekly_partitions = WeeklyPartitionsDefinition(start_date=_start, timezone=_tz, day_offset=1)
monthly_partitions = MonthlyPartitionsDefinition(start_date=_start, timezone=_tz)
