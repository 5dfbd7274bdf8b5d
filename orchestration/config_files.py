"""One reader for every YAML file of the configuration directory, so each fails the same clear way.

`read_config(path, model)` reads a file and validates it with a pydantic model. Whatever is wrong becomes
one `ConfigError` whose lines read `file:line: entry: message`:

- a YAML syntax error: `file:line:col: problem` (PyYAML's position, 1-based);
- a key given twice in one mapping (PyYAML would keep the last value silently);
- an empty file, or a top level that is not a mapping of keys;
- a missing required key (`the top-level key commitments: is missing`), an unknown key (`did you mean
  'valid_to'?`: models derive from `StrictModel`), a value of the wrong type or out of range.

Checks beyond one value (a commitment names a catalogue node, versions overlap) call `ConfigFile.error`
with the entry's path, so their messages carry the same file, line and entry.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from orchestration.errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)
Loc = tuple[str | int, ...]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|min|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "d": 86400}
_MERGE = "tag:yaml.org,2002:merge"


def parse_duration(text: str | int | float, day_seconds: int = 86400) -> int:
    """'30min', '4h', '3d' -> seconds. A bare number is seconds. A day is `day_seconds`: 24h on the wall
    clock, one nominal working day on a business calendar's clock."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return int(text)
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30min, 4h or 3d")
    unit = match.group(2)
    return int(float(match.group(1)) * (day_seconds if unit == "d" else _UNIT_SECONDS[unit]))


def format_duration(seconds: float, day_seconds: int = 86400) -> str:
    """The inverse of parse_duration for a limit as commitments.yaml would spell it: whole or half days
    (of `day_seconds`) from one day up, else hours when a whole quarter hour, else minutes (e.g. 1.5d, 5.75h,
    45min); other values in seconds."""
    seconds = int(round(seconds))
    if seconds >= day_seconds and (2 * seconds) % day_seconds == 0:
        return f"{seconds / day_seconds:g}d"
    if seconds >= 3600 and seconds % 900 == 0:
        return f"{seconds / 3600:g}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}min"
    return f"{seconds}s"


def time_zone(name: object) -> ZoneInfo:
    """The IANA zone `name`; raises ValueError saying what a zone name looks like."""
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is not a time zone: use an IANA name such as Asia/Shanghai, Europe/Rome or UTC"
        ) from None


def _duration_text(value: object) -> str:
    seconds = parse_duration(value)  # type: ignore[arg-type]
    return f"{seconds}s" if isinstance(value, int | float) else str(value)  # a bare number is seconds


def _zone_name(value: str) -> str:
    time_zone(value)
    return value


# Field types: the value as written, checked when the file is read.
TimeZoneName = Annotated[str, AfterValidator(_zone_name)]
Duration = Annotated[str, BeforeValidator(_duration_text)]


class StrictModel(BaseModel):
    """A mapping of a configuration file: an unknown key is an error naming the closest known key."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = list(cls.model_fields)
            unknown = [key for key in data if key not in cls.model_fields]
            if unknown:
                raise ValueError("; ".join(_unknown_key(key, known) for key in unknown))
        return data


def _unknown_key(key: object, known: list[str]) -> str:
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"the keys are {', '.join(known)}"
    return f"unknown key {key!r}: {hint}"


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (a `<<:` merge may still override)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first given on line {seen[key].line + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:  # e.g. 2026-13-01: PyYAML would raise without a position
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a valid date ({exc})", node.start_mark
            ) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def shown(path: Path) -> str:
    """A path as messages show it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class ConfigFile:
    """A configuration file as read: its data and the line of every entry, to name them in messages."""

    path: Path
    data: Any
    lines: Mapping[Loc, int]

    def line_of(self, loc: Sequence[str | int]) -> int:
        """The line of the entry at `loc` (of its nearest enclosing entry when it has none of its own)."""
        loc = tuple(loc)
        while loc and loc not in self.lines:
            loc = loc[:-1]
        return self.lines.get(loc, 1)

    def error(self, loc: Sequence[str | int], message: str, label: str = "") -> ConfigError:
        """A ConfigError for the entry at `loc`; `label` names it in words, e.g. its key."""
        return ConfigError(self.message(loc, message, label))

    def message(self, loc: Sequence[str | int], message: str, label: str = "") -> str:
        return f"{self.where(loc, label)}: {message}"

    def where(self, loc: Sequence[str | int], label: str = "") -> str:
        """`file:line: entry (label)`, the start of every message about the entry at `loc`."""
        entry = entry_name(loc) + (f" ({label})" if label else "")
        return f"{shown(self.path)}:{self.line_of(loc)}" + (f": {entry}" if entry else "")

    def validate(self, model: type[Model]) -> Model:
        """The data as `model`; every validation error becomes one line of a ConfigError."""
        try:
            return model.model_validate(self.data)
        except ValidationError as exc:
            problems: dict[Loc, list[str]] = {}
            for error in exc.errors():
                loc, text = self._explain(error)
                problems.setdefault(loc, []).append(text)
            raise ConfigError("\n".join(self._line(loc, texts) for loc, texts in problems.items())) from None

    def _line(self, loc: Loc, texts: list[str]) -> str:
        if loc == ():  # a missing top-level key: the text says it all
            return f"{shown(self.path)}:1: {texts[0]}"
        # The alternatives of a union (int | str, a model or 'off') fail together: one sentence for them.
        if len(texts) > 1 and all(t.startswith("Input should be ") for t in texts):
            got = texts[0][texts[0].rfind(" (") :] if texts[0].endswith(")") else ""
            texts = [
                "Input should be "
                + " or ".join(t.removeprefix("Input should be ").removesuffix(got) for t in texts)
                + got
            ]
        return self.message(loc, "; ".join(dict.fromkeys(texts)))

    def _explain(self, error: Mapping[str, Any]) -> tuple[Loc, str]:
        kind, raw = error["type"], tuple(error["loc"])
        if kind == "missing":
            loc = (*self._data_path(raw[:-1]), raw[-1])
            if len(loc) == 1:
                return (), f"the top-level key `{loc[0]}:` is missing"
            return loc[:-1], f"the key `{loc[-1]}:` is missing"
        text = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        value = error.get("input")
        if kind not in ("value_error", "assertion_error") and (value is None or isinstance(value, str | int | float)):
            text += " (it is empty)" if value is None else f" (got {value!r})"
        return self._data_path(raw), text

    def _data_path(self, loc: Loc) -> Loc:
        """`loc` without pydantic's union and validator tags: only the keys and indexes found in the data."""
        node, path = self.data, []
        for part in loc:
            if isinstance(node, dict):
                found = part in node
            elif isinstance(node, list):
                found = isinstance(part, int) and 0 <= part < len(node)
            else:
                found = False
            if found:
                node = node[part]
                path.append(part)
        return tuple(path)


def entry_name(loc: Sequence[str | int]) -> str:
    """('commitments', 3, 'valid_to') -> 'commitments[3].valid_to'."""
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def read_yaml(path: Path, missing_hint: str = "") -> ConfigFile:
    """The file's data, which must be a mapping of keys. `missing_hint` says how to point at the file
    (e.g. the environment variable that chooses it), shown when there is none."""
    if not path.is_file():
        raise ConfigError(f"{shown(path)}: no such file" + (f"; {missing_hint}" if missing_hint else ""))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown(path)}: not UTF-8 text (byte {exc.start}): save the file as UTF-8") from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(_syntax_message(path, exc)) from None
    finally:
        loader.dispose()
    if data is None:
        raise ConfigError(f"{shown(path)}: the file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{shown(path)}:1: the top level must be a mapping of keys, not a {type(data).__name__}")
    return ConfigFile(path, data, _lines(node, ()))


def read_config(path: Path, model: type[Model], missing_hint: str = "") -> tuple[ConfigFile, Model]:
    """Read and validate in one step; the ConfigFile names entries in later, cross-entry checks."""
    required = [f"`{name}:`" for name, field in model.model_fields.items() if field.is_required()]
    try:
        file = read_yaml(path, missing_hint)
    except ConfigError as exc:
        # A file that holds only the entries (a list) lacks the key they belong under: say which.
        if required and str(exc).endswith("not a list"):
            raise ConfigError(
                f"{shown(path)}:1: the top-level key {' and '.join(required)} is missing: the file begins with "
                f"{required[0]} and lists the entries under it"
            ) from None
        raise
    return file, file.validate(model)


def _syntax_message(path: Path, exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"{shown(path)}:{mark.line + 1}:{mark.column + 1}" if mark else shown(path)
    problem = exc.problem or "invalid YAML"
    context = f" ({exc.context})" if exc.context and exc.problem else ""
    return f"{where}: {problem}{context}"


def _lines(node: yaml.Node, loc: Loc, depth: int = 0) -> dict[Loc, int]:
    """The 1-based line of every entry under `node`, by its path of keys and indexes."""
    lines = {loc: node.start_mark.line + 1}
    if depth > 50:  # an alias that refers to itself
        return lines
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.update(_lines(item, (*loc, i), depth + 1))
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE:
                child = (*loc, _key(key))
                lines.update(_lines(value, child, depth + 1))
                lines[child] = key.start_mark.line + 1
    return lines


def _key(node: yaml.ScalarNode) -> str | int | date:
    """A key as the constructed data holds it, for the common scalar kinds (str, int, date)."""
    value = yaml.safe_load(node.value) if node.style is None else node.value
    return value if isinstance(value, str | int | date) and not isinstance(value, bool) else node.value
