"""Extraction from file drops: CSV files in a declared encoding, one per day or one for all history."""

from __future__ import annotations

import codecs
import io
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from orchestration.periods import Window
from orchestration.sources.config import SourceConfig, path_template_error
from orchestration.sources.errors import (
    BAD_PATH_PATTERN,
    EMPTY_FILE,
    FILE_MISSING,
    MISSING_COLUMNS,
    UNDECODABLE_FILE,
    SourceRejected,
)

# Column holding a data line that is not valid in the file's encoding (normalise quarantines it).
UNDECODABLE = "_undecodable"
# A line with fewer or more fields than the header (a line cut short, a stray delimiter): the fields it
# has and the header's, and the line itself, for the `missing_fields` / `extra_fields` rules. Only a file
# with such lines gets these columns.
FIELDS_FOUND = "_fields_found"
FIELDS_EXPECTED = "_fields_expected"
LINE = "_line"
# What the reader adds to the declared columns; never part of a row as received.
READER_COLUMNS = ("_partition_date", UNDECODABLE, FIELDS_FOUND, FIELDS_EXPECTED, LINE)
# Python marks bytes it cannot decode with lone surrogates under "surrogateescape".
_ESCAPED_BYTE = r"[\udc80-\udcff]"
# Bytes Arrow parses at a time (its batches), and read at a time while the decoding is checked.
_BLOCK_BYTES = 1 << 20


class FileDropError(SourceRejected):
    pass


def _path_template(cfg: SourceConfig) -> str:
    if cfg.path_env and os.environ.get(cfg.path_env):
        # The declared path was checked when the declaration loaded; one from the environment is checked here.
        template = os.environ[cfg.path_env]
        problem = path_template_error(template)
        if problem:
            raise FileDropError(f"source {cfg.name}: {cfg.path_env}={template!r}: {problem}", BAD_PATH_PATTERN)
        return template
    assert cfg.path is not None
    return cfg.path


def is_daily(cfg: SourceConfig) -> bool:
    return "{date" in _path_template(cfg)


def file_path(cfg: SourceConfig, day: date | None = None) -> Path:
    """The file of a day (daily drops) or the one history file."""
    template = _path_template(cfg)
    return Path(template.format(date=day) if is_daily(cfg) else template)


def _check_columns(cfg: SourceConfig, path: Path, frame: pd.DataFrame, problem: str = "") -> None:
    # pandas renames a repeated header (Variant, Variant.1); declared columns are checked as given.
    missing = sorted(set(cfg.source_columns) - set(frame.columns))
    if missing:
        raise FileDropError(
            f"source {cfg.name}: {path} {problem or 'lacks declared columns'} {missing}; the whole file is "
            f"rejected (found {list(frame.columns)})",
            UNDECODABLE_FILE if problem else MISSING_COLUMNS,
        )


def _read_mixed(cfg: SourceConfig, path: Path, exc: UnicodeDecodeError) -> pd.DataFrame:
    """A file with some lines not in its encoding: the decodable lines load, the others come back as
    one `_undecodable` value each (shown with their bytes escaped) for quarantine. A header that does
    not decode, or decodes to other columns, means the whole file is in another encoding: rejected."""
    lines = path.read_bytes().decode(cfg.encoding, errors="surrogateescape").splitlines()
    # Object dtype: Arrow-backed strings cannot hold the surrogates that mark the undecodable bytes.
    text = pd.Series(lines, dtype=object)
    text = text[text.str.strip() != ""]
    broken = text.str.contains(_ESCAPED_BYTE).astype(bool)
    if text.empty or broken.iloc[0]:
        raise FileDropError(f"source {cfg.name}: {path} is not valid {cfg.encoding}: {exc}", UNDECODABLE_FILE)
    good = _parse(cfg, path, io.BytesIO("\n".join(text[~broken]).encode("utf-8")), "utf-8")
    _check_columns(cfg, path, good, problem=f"is not valid {cfg.encoding} ({exc}); its header lacks")
    # Only the few broken lines are re-encoded one by one, to show their bytes as \x.. escapes.
    shown = [
        line.encode(cfg.encoding, "surrogateescape").decode(cfg.encoding, "backslashreplace") for line in text[broken]
    ]
    bad = pd.DataFrame({UNDECODABLE: shown})
    text_columns = {c: "string" for c in good.columns if c not in READER_COLUMNS}
    return pd.concat([good, bad], ignore_index=True).astype(text_columns)


def _parse(cfg: SourceConfig, path: Path, source: Path | io.BytesIO, encoding: str) -> pd.DataFrame:
    """The CSV's rows as text. Arrow's parser reports each line whose field count is not the header's
    (pandas' C parser pads a short line with empty fields, which made a run cut before its end an open
    one, and fails the whole file on a long one): those lines come back as rows marked for quarantine."""
    odd: list = []

    def set_aside(line) -> str:  # called for the odd lines only
        odd.append((line.actual_columns, line.expected_columns, line.text))
        return "skip"

    try:
        frame = pd.read_csv(
            source, encoding=encoding, dtype=str, keep_default_na=False, engine="pyarrow", on_bad_lines=set_aside
        )
    except pd.errors.EmptyDataError as exc:
        raise FileDropError(
            f"source {cfg.name}: {path} is empty (0 bytes, not even a header); the whole file is rejected",
            EMPTY_FILE,
        ) from exc
    marked = _marked(odd, list(frame.columns))
    return frame if marked is None else pd.concat([frame, marked], ignore_index=True)


def _marked(odd: list, columns: list[str]) -> pd.DataFrame | None:
    """The lines whose field count is not the header's, as rows marked for quarantine (None: no such line)."""
    if not odd:
        return None
    found, expected, lines = zip(*odd, strict=True)
    marked = pd.DataFrame({FIELDS_FOUND: found, FIELDS_EXPECTED: expected, LINE: lines})
    short = marked[marked[FIELDS_FOUND] < marked[FIELDS_EXPECTED]]
    if len(short):
        # The fields a short line has, in their columns: its instants still place it in its partition.
        fields = pd.read_csv(
            io.StringIO("\n".join(short[LINE])),
            header=None,
            names=columns,
            dtype=str,
            keep_default_na=False,
        )
        marked = marked.join(fields.set_axis(short.index))
    return marked.astype({LINE: "string"})


def read_file(cfg: SourceConfig, window: Window) -> pd.DataFrame:
    """The window's rows in one frame (the batches of `read_file_batches` put together)."""
    frames = list(read_file_batches(cfg, window))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def read_file_batches(cfg: SourceConfig, window: Window) -> Iterator[pd.DataFrame]:
    """Daily drops: each day's file, its rows tagged with that day as their partition. A single history
    file: its rows, placed into partitions by their timestamp later. Yielded in chunks of a file (at least
    one frame), in the order of the files and their lines; the lines of a file whose field count is not its
    header's come after its other lines, as in a file read whole."""
    days = window.days if is_daily(cfg) else [None]
    yielded = False
    for day in days:
        for frame in _csv_batches(cfg, file_path(cfg, day)):
            if day is not None:
                frame["_partition_date"] = day
            yield frame
            yielded = True
    if not yielded:
        yield pd.DataFrame(columns=cfg.source_columns)


def _csv_batches(cfg: SourceConfig, path: Path) -> Iterator[pd.DataFrame]:
    """One file's rows, block by block, streamed by Arrow's CSV reader (a file of ten million lines is never
    in memory whole). A file with lines not in its encoding is read whole (`_read_mixed`): the decoding is
    checked first, streaming, so that no block of such a file has been handed on before it is known."""
    if not path.exists():
        raise FileDropError(f"source {cfg.name}: expected file {path} is missing", FILE_MISSING)
    problem = _decoding_error(path, cfg.encoding)
    if problem is not None:
        yield _read_mixed(cfg, path, problem)
        return
    read_options = {"encoding": cfg.encoding, "block_size": _BLOCK_BYTES}
    try:
        skip_odd = pa_csv.ParseOptions(invalid_row_handler=lambda _: "skip")
        with pa_csv.open_csv(path, read_options=pa_csv.ReadOptions(**read_options), parse_options=skip_odd) as head:
            header = head.schema.names
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise FileDropError(
                f"source {cfg.name}: {path} is empty (0 bytes, not even a header); the whole file is rejected",
                EMPTY_FILE,
            ) from exc
        raise
    columns = _dedup_names(header)
    _check_columns(cfg, path, pd.DataFrame(columns=columns))
    odd: list = []

    def set_aside(line) -> str:  # called for the odd lines only
        odd.append((line.actual_columns, line.expected_columns, line.text))
        return "skip"

    reader = pa_csv.open_csv(
        path,
        read_options=pa_csv.ReadOptions(**read_options, column_names=columns, skip_rows=1),
        parse_options=pa_csv.ParseOptions(invalid_row_handler=set_aside),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(columns, pa.string()), strings_can_be_null=False
        ),
    )
    with reader:
        yield _to_frame([], reader.schema)  # the columns, even of a file with a header only
        for block in reader:
            yield _to_frame([block], reader.schema)
    marked = _marked(odd, columns)
    if marked is not None:
        yield pd.concat([pd.DataFrame({c: pd.Series(dtype="str") for c in columns}), marked], ignore_index=True)


def _to_frame(blocks: list[pa.RecordBatch], schema: pa.Schema) -> pd.DataFrame:
    return pa.Table.from_batches(blocks, schema=schema).to_pandas()


def _decoding_error(path: Path, encoding: str) -> UnicodeDecodeError | None:
    """The first byte sequence of the file not in `encoding`, read in chunks (None: the whole file decodes)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with path.open("rb") as stream:
        try:
            while chunk := stream.read(_BLOCK_BYTES * 8):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return exc
    return None


def _dedup_names(names: list[str]) -> list[str]:
    """A repeated header as pandas names it (Variant, Variant.1): declared columns are checked as given."""
    out: list[str] = []
    counts: dict[str, int] = {}
    for name in names:
        seen = counts.get(name, 0)
        while seen > 0:
            counts[name] = seen + 1
            name = f"{name}.{seen}"
            seen = counts.get(name, 0)
        out.append(name)
        counts[name] = seen + 1
    return out
