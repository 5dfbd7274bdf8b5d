"""Business calendars (config/calendars.yaml): validated, versioned, and turned into the cumulative
working-time table the warehouse measures business-clock durations with.

The table has one row per calendar version and UTC day: the working seconds from the table's origin to
that UTC midnight, plus the day's working intervals as epoch seconds (at most MAX_PIECES_PER_UTC_DAY).
Working time up to an instant t is then `cum_seconds + the part of t's day's intervals before t`, a
constant amount of SQL per instant (dbt_project/macros/clock/), never an expansion of runs into days or hours.
UTC days rather than local days keep time zones out of the SQL: DST and offsets are settled here.
"""

from __future__ import annotations

import csv
import importlib.metadata
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from pydantic import Field

from orchestration.config_files import ConfigFile, StrictModel, TimeZoneName, parse_duration, read_config
from orchestration.errors import ConfigError

__all__ = ["parse_duration"]  # re-exported: durations are read here and by the commitments

WALL_CLOCK = "wall"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Working intervals per UTC day that the SQL reads; dbt_project/macros/clock/clock_slots.sql has the same number.
MAX_PIECES_PER_UTC_DAY = 6
DEFAULT_UNTIL = date(2035, 12, 31)
DEFAULT_NOMINAL_DAY_SECONDS = 8 * 3600
_INTERVAL = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DAY = 86400
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class CalendarError(ConfigError):
    pass


class VersionEntry(StrictModel):
    valid_from: datetime | date | str
    valid_to: datetime | date | str | None = None
    until: date = DEFAULT_UNTIL
    working_hours: dict[str, list[str] | None] | None = None
    holidays: str | dict[str, str] | None = None
    holiday_dates: list[date] = []
    workday_dates: list[date] = []
    make_up_hours: str = "mon"


class CalendarEntry(StrictModel):
    time_zone: TimeZoneName
    nominal_day: int | float | str = DEFAULT_NOMINAL_DAY_SECONDS
    versions: list[VersionEntry] = Field(min_length=1)


class CalendarsFile(StrictModel):
    calendars: dict[str, CalendarEntry]


@dataclass(frozen=True)
class CalendarVersion:
    calendar_name: str
    time_zone: str
    nominal_day_seconds: int
    valid_from: datetime  # naive UTC
    valid_to: datetime | None
    hours: dict[int, list[tuple[int, int]]]  # weekday (0 = Monday) -> [(start, end)] seconds after local midnight
    holidays: frozenset[date]
    workdays: frozenset[date]
    make_up_weekday: int
    until: date
    where: str = field(compare=False)  # file:line: entry, to start messages about this version

    @property
    def version_id(self) -> str:
        return f"{self.calendar_name}|{self.valid_from:%Y-%m-%dT%H:%M:%S}"


def _date(value: object, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise CalendarError(f"{where}: {value!r} is not a date") from exc


def validity(valid_from: object, valid_to: object, tz: ZoneInfo) -> tuple[datetime, datetime | None]:
    """The `valid_from` (required) and `valid_to` (open when empty) of a calendar version or a commitment,
    as naive UTC; `valid_to` must be after `valid_from`. Raises ValueError saying which is wrong."""
    start = _local_instant(valid_from, tz, "valid_from")
    if start is None:
        raise ValueError("valid_from is required")
    end = _local_instant(valid_to, tz, "valid_to")
    if end is not None and end <= start:
        raise ValueError(f"valid_to {valid_to} must be after valid_from {valid_from}")
    return start, end


def _local_instant(value: object, tz: ZoneInfo, key: str) -> datetime | None:
    """A date or date-time of the config files, local to `tz` unless it has an offset, as naive UTC; None
    when empty."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        local = value
    elif isinstance(value, date):
        local = datetime(value.year, value.month, value.day)
    else:
        try:
            local = datetime.fromisoformat(str(value))
        except ValueError:
            raise ValueError(f"{key} {value!r} is not a date or date-time, e.g. 2026-03-01 12:00") from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=tz)
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def _hours(raw: dict | None, where: str) -> dict[int, list[tuple[int, int]]]:
    hours: dict[int, list[tuple[int, int]]] = {}
    for day, intervals in (raw or {}).items():
        if day not in WEEKDAYS:
            raise CalendarError(f"{where}: working_hours has unknown weekday {day!r}; use {', '.join(WEEKDAYS)}")
        parsed = []
        for text in intervals or []:
            match = _INTERVAL.match(str(text))
            if not match:
                raise CalendarError(f"{where}: {day} interval {text!r} is not like 09:00-12:00")
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
            if not (0 <= start < end <= _DAY) or m1 > 59 or m2 > 59:
                raise CalendarError(f"{where}: {day} interval {text!r} must start before it ends, within the day")
            parsed.append((start, end))
        parsed.sort()
        if any(a_end > b_start for (_, a_end), (b_start, _) in zip(parsed, parsed[1:], strict=False)):
            raise CalendarError(f"{where}: {day} intervals overlap")
        hours[WEEKDAYS.index(day)] = parsed
    return hours


def _china(first: date, until: date, where: str) -> tuple[set[date], set[date]]:
    import chinese_calendar

    version = importlib.metadata.version("chinesecalendar")
    for year in range(first.year, until.year + 1):
        try:
            chinese_calendar.is_holiday(date(year, 6, 1))
        except NotImplementedError as exc:
            raise CalendarError(
                f"{where}: chinese-calendar {version} has no holidays for {year} ({exc}); upgrade the "
                f"chinesecalendar package, or set `until` before {year}"
            ) from exc
    return set(chinese_calendar.holidays), set(chinese_calendar.workdays)


def _exceptions(source: object, first: date, until: date, where: str, config_dir: Path) -> tuple[set[date], set[date]]:
    """(holidays, make-up working days) from the declared source; `{config_dir}` in a file path is the
    directory of calendars.yaml."""
    if source in (None, "none"):
        return set(), set()
    if source == "china":
        return _china(first, until, where)
    if isinstance(source, dict) and "country" in source and set(source) <= {"country", "subdiv"}:
        import holidays

        try:
            days = holidays.country_holidays(
                source["country"], subdiv=source.get("subdiv"), years=range(first.year, until.year + 1)
            )
        except NotImplementedError as exc:
            raise CalendarError(f"{where}: holidays: {exc}") from exc
        return set(days), set()
    if isinstance(source, dict) and set(source) == {"file"}:
        return _exceptions_file(Path(str(source["file"]).format(config_dir=config_dir)), where)
    raise CalendarError(
        f"{where}: holidays must be china, none, {{country: XX, subdiv: YY}} or {{file: path}}, not {source!r}"
    )


def _exceptions_file(path: Path, where: str) -> tuple[set[date], set[date]]:
    if not path.exists():
        raise CalendarError(f"{where}: holiday file {path} does not exist")
    off, on = set(), set()
    with path.open(encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            kind = (row.get("kind") or "").strip()
            if kind not in ("holiday", "workday"):
                raise CalendarError(f"{where}: {path.name} line {line}: kind must be holiday or workday")
            (off if kind == "holiday" else on).add(_date(row.get("date", "").strip(), f"{path.name} line {line}"))
    return off, on


def load_calendars(first: date, path: Path) -> dict[str, list[CalendarVersion]]:
    """Every calendar's versions, validated (none without the file). `first` is the earliest date the tables
    must cover. Raises CalendarError naming the file, line and entry."""
    if not path.exists():
        return {}
    try:
        file, raw = read_config(path, CalendarsFile)
    except ConfigError as exc:
        raise CalendarError(str(exc)) from None
    calendars: dict[str, list[CalendarVersion]] = {}
    for name, spec in raw.calendars.items():
        loc = ("calendars", name)
        if name == WALL_CLOCK or not _NAME.match(name):
            raise CalendarError(file.message(loc, f"a calendar name is lower_snake_case and not {WALL_CLOCK!r}"))
        try:
            nominal = parse_duration(spec.nominal_day)
        except ValueError as exc:
            raise CalendarError(file.message((*loc, "nominal_day"), str(exc))) from None
        if not 0 < nominal <= _DAY:
            raise CalendarError(file.message((*loc, "nominal_day"), "must be more than 0 and at most 24h"))
        versions = [
            _version(name, spec.time_zone, nominal, v, first, file, (*loc, "versions", i))
            for i, v in enumerate(spec.versions)
        ]
        ordered = sorted(versions, key=lambda c: c.valid_from)
        for prev, nxt in zip(ordered, ordered[1:], strict=False):
            if prev.valid_to is None or nxt.valid_from < prev.valid_to:
                raise CalendarError(f"{nxt.where}: overlaps {prev.where}")
        calendars[name] = ordered
    return calendars


def _version(
    name: str, zone: str, nominal: int, v: VersionEntry, first: date, file: ConfigFile, loc: tuple
) -> CalendarVersion:
    vwhere = file.where(loc)
    try:
        valid_from, valid_to = validity(v.valid_from, v.valid_to, ZoneInfo(zone))
    except ValueError as exc:
        raise CalendarError(f"{vwhere}: {exc}") from None
    hours = _hours(v.working_hours, vwhere)
    if not any(hours.values()):
        raise CalendarError(f"{vwhere}: working_hours declares no working time")
    off, on = _exceptions(v.holidays, first, v.until, vwhere, file.path.parent)
    off |= set(v.holiday_dates)
    on |= set(v.workday_dates)
    both = sorted(off & on)
    if both:
        raise CalendarError(f"{vwhere}: {both[0]} is both a holiday and a working day")
    make_up = v.make_up_hours
    if make_up not in WEEKDAYS or not hours.get(WEEKDAYS.index(make_up)):
        raise CalendarError(f"{vwhere}: make_up_hours must name a weekday with working hours")
    return CalendarVersion(
        calendar_name=name,
        time_zone=zone,
        nominal_day_seconds=nominal,
        valid_from=valid_from,
        valid_to=valid_to,
        hours=hours,
        holidays=frozenset(off),
        workdays=frozenset(on),
        make_up_weekday=WEEKDAYS.index(make_up),
        until=v.until,
        where=vwhere,
    )


def calendar_versions_table(calendars: dict[str, list[CalendarVersion]]) -> pd.DataFrame:
    rows = [
        {
            "calendar_version_id": v.version_id,
            "calendar_name": v.calendar_name,
            "time_zone": v.time_zone,
            "nominal_day_seconds": v.nominal_day_seconds,
            "valid_from": v.valid_from,
            "valid_to": v.valid_to,
            "covered_until": v.until,
        }
        for versions in calendars.values()
        for v in versions
    ]
    columns = ["calendar_version_id", "calendar_name", "time_zone", "nominal_day_seconds"]
    instants = ["valid_from", "valid_to", "covered_until"]
    frame = pd.DataFrame(rows, columns=[*columns, *instants])
    for column in instants:
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    return frame


def _working_intervals(version: CalendarVersion, first: date) -> pd.DataFrame:
    """The version's working intervals from `first` to `until`, as epoch seconds (start, end)."""
    tz = ZoneInfo(version.time_zone)
    dates = pd.date_range(first, version.until, freq="D")
    weekday = dates.dayofweek.to_numpy()
    makeup = dates.isin(pd.to_datetime(sorted(version.workdays))) if version.workdays else np.zeros(len(dates), bool)
    holiday = dates.isin(pd.to_datetime(sorted(version.holidays))) if version.holidays else np.zeros(len(dates), bool)
    worked_weekdays = np.array([bool(version.hours.get(d)) for d in range(7)])
    template = np.where(makeup, version.make_up_weekday, weekday)
    worked = makeup | (~holiday & worked_weekdays[weekday])
    templates = pd.DataFrame(
        [(d, s, e) for d, intervals in version.hours.items() for s, e in intervals],
        columns=["template", "start_offset", "end_offset"],
    )
    days = pd.DataFrame({"local_date": dates[worked], "template": template[worked]})
    intervals = days.merge(templates, on="template")
    bounds = {}
    for side in ("start", "end"):
        local = intervals.local_date + pd.to_timedelta(intervals[f"{side}_offset"], unit="s")
        # A working time that DST skips moves to the first valid instant; a repeated one counts once.
        aware = local.dt.tz_localize(tz, ambiguous=np.zeros(len(local), bool), nonexistent="shift_forward")
        bounds[side] = aware.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[s]").astype("int64")
    out = pd.DataFrame({"start": bounds["start"], "end": bounds["end"]})
    return out[out.end > out.start].sort_values("start", ignore_index=True)


_SLOTS = [f"w{i}_{side}" for i in range(1, MAX_PIECES_PER_UTC_DAY + 1) for side in ("start", "end")]


def calendar_days_table(calendars: dict[str, list[CalendarVersion]], first: date) -> pd.DataFrame:
    """The cumulative working-time table: per calendar version and UTC day, working seconds before that
    UTC midnight (`cum_seconds`) and the day's working intervals w1..wN as epoch seconds (0, 0 if absent)."""
    frames = [_version_days(version, first) for versions in calendars.values() for version in versions]
    columns = ["calendar_version_id", "utc_day", "day_start", "cum_seconds", *_SLOTS]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _version_days(version: CalendarVersion, first: date) -> pd.DataFrame:
    """One version's rows of the table, from the UTC day before `first` to two days after `until`."""
    # One day of margin on both sides: a local day reaches into the UTC days around it.
    intervals = _working_intervals(version, first - timedelta(days=1))
    day = intervals.start // _DAY
    crosses = (intervals.end - 1) // _DAY > day
    midnight = (day + 1) * _DAY
    pieces = pd.concat(
        [
            pd.DataFrame({"start": intervals.start, "end": intervals.end.where(~crosses, midnight)}),
            pd.DataFrame({"start": midnight[crosses], "end": intervals.end[crosses]}),
        ],
        ignore_index=True,
    ).sort_values("start", ignore_index=True)
    pieces["utc_day"] = pieces.start // _DAY
    pieces["slot"] = pieces.groupby("utc_day").cumcount() + 1
    if len(pieces) and pieces.slot.max() > MAX_PIECES_PER_UTC_DAY:
        raise CalendarError(
            f"{version.where}: more than {MAX_PIECES_PER_UTC_DAY} working intervals fall in one UTC day"
        )
    first_day = int(pd.Timestamp(first - timedelta(days=1)).value // 10**9 // _DAY)
    last_day = int(pd.Timestamp(version.until + timedelta(days=2)).value // 10**9 // _DAY)
    all_days = pd.RangeIndex(first_day, last_day + 1, name="utc_day")
    worked = (pieces.end - pieces.start).groupby(pieces.utc_day).sum().reindex(all_days, fill_value=0)
    wide = pieces.pivot(index="utc_day", columns="slot", values=["start", "end"])
    wide.columns = [f"w{slot}_{side}" for side, slot in wide.columns]
    wide = wide.reindex(index=all_days, columns=_SLOTS).fillna(0).astype("int64")
    frame = pd.DataFrame(
        {
            "calendar_version_id": version.version_id,
            "utc_day": all_days.to_numpy(dtype="int64"),
            "day_start": pd.to_datetime(all_days.to_numpy() * _DAY, unit="s").astype("datetime64[us]"),
            "cum_seconds": (worked.cumsum() - worked).to_numpy(dtype="int64"),
        }
    )
    return pd.concat([frame, wide.reset_index(drop=True)], axis=1)


def working_time_at(version: CalendarVersion, first: date, instants: np.ndarray) -> np.ndarray:
    """Working seconds from `first` to each epoch-second instant, by a search over the sorted working
    intervals: an implementation independent of the table, which the tests and the benchmark's
    yardstick hold the warehouse's answers against."""
    return working_time_reader(version, first)(instants)


def working_time_reader(version: CalendarVersion, first: date) -> Callable[[np.ndarray], np.ndarray]:
    intervals = _working_intervals(version, first)
    starts, lengths = intervals.start.to_numpy(), (intervals.end - intervals.start).to_numpy()
    before = np.concatenate([[0], np.cumsum(lengths)[:-1]])

    def read(instants: np.ndarray) -> np.ndarray:
        i = np.searchsorted(starts, instants, side="right") - 1
        j = np.maximum(i, 0)
        return np.where(i < 0, 0, before[j] + np.clip(instants - starts[j], 0, lengths[j]))

    return read
