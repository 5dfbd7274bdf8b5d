"""Extraction from HTTP JSON APIs that page through rows of a time window.

Every call is bounded by the source's `limits` (orchestration/sources/config.py): a connect and a read
timeout per request, a deadline per page (a server that trickles a byte at a time never beats a read
timeout) and one for the whole extraction, retries of transient failures included. Paging stops at
`max_pages` and at a `next_page` already read, so a server that never says "last page" cannot loop the run.
Anything that fails rejects the batch whole with a message naming the source, the page and the URL
with its credentials masked (orchestration/secrets.py).
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from orchestration.periods import Window
from orchestration.secrets import redact, split_userinfo
from orchestration.sources.config import SourceConfig
from orchestration.sources.errors import (
    EXTRACTION_DEADLINE,
    HTTP_ERROR,
    INVALID_JSON_PAGE,
    PAGE_LIMIT_EXCEEDED,
    PAGE_WITHOUT_RECORDS,
    REPEATED_PAGE_TOKEN,
    SOURCE_TIMEOUT,
    SOURCE_UNREACHABLE,
    SourceRejected,
)

_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


class ApiPageError(SourceRejected):
    """A page whose rows cannot be read: the pages after it are unknown too, so the batch is rejected."""


class _Transient(Exception):
    """One failed attempt at a page that a retry may cure; `reason_code` is what it becomes if none does."""

    def __init__(self, what: str, reason_code: str) -> None:
        super().__init__(what)
        self.reason_code = reason_code


@dataclass
class _Api:
    cfg: SourceConfig
    url: str  # without user-info: the credentials travel as basic auth, never in a URL a library may log
    params: dict[str, Any]

    @property
    def shown(self) -> str:
        return redact(self.url)

    def rejected(self, page: object, problem: str, reason_code: str) -> SourceRejected:
        return ApiPageError(
            f"source {self.cfg.name}: page {page!r} of {self.shown}: {redact(problem)}; the whole batch is rejected",
            reason_code,
        )


def read_http(cfg: SourceConfig, window: Window) -> pd.DataFrame:
    """The window's rows in one frame (the batches of `read_http_batches` put together)."""
    frames = list(read_http_batches(cfg, window))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def read_http_batches(cfg: SourceConfig, window: Window) -> Iterator[pd.DataFrame]:
    """The window's rows page by page (at least one frame, empty when the window has no row). Between two
    pages handed on nothing is read: `limits.total_timeout` bounds the time spent reading, not the time the
    caller spends landing what it read."""
    assert cfg.endpoint is not None
    values = {
        "window_start_utc": window.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_end_utc": window.end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    params = {k: v.format(**values) if isinstance(v, str) else v for k, v in cfg.params.items()}
    base, auth = split_userinfo(cfg.connection_url())
    api = _Api(cfg, base.rstrip("/") + cfg.endpoint, params)
    loop = asyncio.new_event_loop()
    pages = _read_pages(api, auth)
    yielded = False
    try:
        while (frame := loop.run_until_complete(anext(pages, None))) is not None:
            yield frame
            yielded = True
        if not yielded:
            yield pd.DataFrame(columns=cfg.source_columns)
    finally:
        loop.run_until_complete(pages.aclose())
        loop.close()


async def _read_pages(api: _Api, auth: tuple[str, str] | None) -> AsyncIterator[pd.DataFrame]:
    limits, token = api.cfg.limits, api.cfg.connection_token()
    timeout = httpx.Timeout(limits.seconds("read_timeout"), connect=limits.seconds("connect_timeout"))
    # A declared bearer token is the credential; otherwise the URL's user-info, as basic auth.
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    auth = None if token else auth
    read: list[object] = []  # the page tokens asked for, in order
    page: object = 1
    schema: pa.Schema | None = None  # the pages' types so far, text kept as text
    left = float(limits.seconds("total_timeout"))  # reading time left (the caller's time between pages is not counted)
    async with httpx.AsyncClient(timeout=timeout, auth=auth, headers=headers) as client:
        while page is not None:
            _check_paging(api, page, read)
            read.append(page)
            began = time.monotonic()
            try:
                async with asyncio.timeout(max(left, 0.001)):
                    response = await _page(client, api, read[-1])
            except TimeoutError:
                raise api.rejected(
                    page,
                    f"the extraction took longer than its total deadline limits.total_timeout = {limits.total_timeout} "
                    f"({len(read)} page(s) asked for)",
                    EXTRACTION_DEADLINE,
                ) from None
            left -= time.monotonic() - began
            frame, page, schema = _arrow_page(api, response, schema)
            if frame is None:  # a page Arrow does not read: the records one by one, or the page's rejection
                rows, page = _rows_and_next(api, read[-1], response)
                frame = _columns(rows) if rows else None
            if frame is not None and len(frame):
                yield frame


def _arrow_page(
    api: _Api, response: httpx.Response, schema: pa.Schema | None
) -> tuple[pd.DataFrame | None, object, pa.Schema | None]:
    """The page's records and next-page token parsed by Arrow's JSON reader, straight into columns (a
    fifth of the time of `json.loads` and a frame built record by record: BENCHMARKS.md, finding 7).
    Arrow would read an ISO-8601 text as a timestamp: such a field is read again as the text it is, and
    the types found are kept for the next pages. (None, ...) when Arrow cannot read the page as one JSON
    object holding a list of objects (it is then read record by record, or rejected as before)."""
    body = response.content
    for _ in range(3):  # the schema grows by the text fields Arrow took for instants, at most twice
        try:
            table = pa_json.read_json(
                io.BytesIO(body),
                read_options=pa_json.ReadOptions(block_size=len(body) + 1, use_threads=False),
                parse_options=pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer"),
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None, None, schema
        texts = _as_text(table.schema)
        if texts == table.schema:
            break
        schema = texts
    else:
        return None, None, schema
    records = table.schema.field(api.cfg.records) if api.cfg.records in table.schema.names else None
    if table.num_rows != 1 or records is None or not pa.types.is_list(records.type):
        return None, None, schema
    token = table.column(api.cfg.next_page)[0].as_py() if api.cfg.next_page in table.schema.names else None
    values = table.column(api.cfg.records).combine_chunks().flatten()
    if not len(values):
        return pd.DataFrame(), token, table.schema
    if not pa.types.is_struct(values.type):
        return None, None, schema
    return pa.Table.from_struct_array(values).to_pandas(integer_object_nulls=True), token, table.schema


def _as_text(schema: pa.Schema) -> pa.Schema:
    """The schema with every instant, date or time (which JSON can only have sent as text) as text."""

    def text(kind: pa.DataType) -> pa.DataType:
        if pa.types.is_temporal(kind):
            return pa.string()
        if pa.types.is_struct(kind):
            return pa.struct([field.with_type(text(field.type)) for field in kind])
        if pa.types.is_list(kind):
            return pa.list_(kind.value_field.with_type(text(kind.value_type)))
        return kind

    return pa.schema([field.with_type(text(field.type)) for field in schema])


def _columns(rows: list) -> pd.DataFrame:
    """A page's records as columns, built by Arrow in one pass over the records (pandas' `from_records`
    probes each record: BENCHMARKS.md, finding 7). Integers stay integers beside a null, so that a batch's
    values do not read differently from another's (1 beside 1.0). Records Arrow cannot type (one field a
    number in one record and text in another) fall back to pandas, which keeps each value as it is."""
    try:
        table = pa.Table.from_struct_array(pa.array(rows))
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pd.DataFrame.from_records(rows)
    return table.to_pandas(integer_object_nulls=True)


def _check_paging(api: _Api, page: object, read: list[object]) -> None:
    if page in read:
        raise api.rejected(
            page,
            f"the server's {api.cfg.next_page!r} after page {read[-1]!r} is {page!r}, a page already read: "
            "paging would never end",
            REPEATED_PAGE_TOKEN,
        )
    if len(read) >= api.cfg.limits.max_pages:
        raise api.rejected(
            page,
            f"more than limits.max_pages = {api.cfg.limits.max_pages} pages (the server's {api.cfg.next_page!r} "
            "never became null); raise the cap in the source's declaration if the window really holds that many",
            PAGE_LIMIT_EXCEEDED,
        )


async def _page(client: httpx.AsyncClient, api: _Api, page: object) -> httpx.Response:
    """One page, retried with backoff while its failures are transient (the total deadline still bounds it)."""
    limits = api.cfg.limits
    retrying = AsyncRetrying(
        stop=stop_after_attempt(limits.retries + 1),
        wait=wait_exponential(multiplier=0.5, max=30),
        retry=retry_if_exception_type(_Transient),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                return await _attempt(client, api, page)
    except _Transient as exc:
        raise api.rejected(page, f"{exc} (after {limits.retries + 1} attempt(s))", exc.reason_code) from None
    raise AssertionError("unreachable: tenacity re-raises the last failure")


async def _attempt(client: httpx.AsyncClient, api: _Api, page: object) -> httpx.Response:
    limits = api.cfg.limits
    try:
        async with asyncio.timeout(limits.seconds("page_timeout")):
            response = await client.get(api.url, params={**api.params, "page": page})
    except TimeoutError:
        raise _Transient(
            f"the page took longer than limits.page_timeout = {limits.page_timeout}", SOURCE_TIMEOUT
        ) from None
    except httpx.TimeoutException as exc:
        which = "connect_timeout" if isinstance(exc, httpx.ConnectTimeout) else "read_timeout"
        raise _Transient(
            f"no answer within limits.{which} = {getattr(limits, which)} ({type(exc).__name__})", SOURCE_TIMEOUT
        ) from None
    except httpx.TransportError as exc:
        raise _Transient(f"cannot reach the server ({type(exc).__name__}: {exc})", SOURCE_UNREACHABLE) from None
    if response.status_code in _TRANSIENT_STATUS:
        raise _Transient(f"the server answered HTTP {response.status_code}", HTTP_ERROR)
    if response.is_error:
        raise api.rejected(
            page, f"the server answered HTTP {response.status_code} {response.reason_phrase}", HTTP_ERROR
        )
    return response


def _rows_and_next(api: _Api, page: object, response: httpx.Response) -> tuple[list, object]:
    try:
        body = response.json()
    except ValueError:
        raise api.rejected(
            page, f"the page is not valid JSON (body starts {response.text[:80]!r})", INVALID_JSON_PAGE
        ) from None
    rows = body.get(api.cfg.records) if isinstance(body, dict) else None
    if not isinstance(rows, list):
        found = sorted(body) if isinstance(body, dict) else type(body).__name__
        raise api.rejected(
            page, f"the page has no list in field {api.cfg.records!r} (fields found: {found})", PAGE_WITHOUT_RECORDS
        )
    return rows, body.get(api.cfg.next_page)
