"""Faults that reject a whole batch rather than single rows: nothing of the batch is landed, the
previous load of its partitions stays as it was, and the message says what to fix."""

from __future__ import annotations


class SourceRejected(RuntimeError):
    """A batch that cannot be split into good and bad rows. `reason_code` names the fault."""

    reason_code = "batch_rejected"

    def __init__(self, message: str, reason_code: str | None = None) -> None:
        super().__init__(message)
        if reason_code is not None:
            self.reason_code = reason_code


# Reason codes of whole-batch rejections.
FILE_MISSING = "file_missing"
MISSING_COLUMNS = "missing_columns"
UNDECODABLE_FILE = "undecodable_file"
EMPTY_FILE = "empty_file"
BAD_PATH_PATTERN = "bad_path_pattern"
INVALID_JSON_PAGE = "invalid_json_page"
PAGE_WITHOUT_RECORDS = "page_without_records"
# A source system that does not answer in time, or answers with an error: the batch is rejected whole, the
# previous load stays, and a later run (or `quality reprocess`) tries again.
SOURCE_UNREACHABLE = "source_unreachable"
SOURCE_TIMEOUT = "source_timeout"
EXTRACTION_DEADLINE = "extraction_deadline"
HTTP_ERROR = "http_error"
SOURCE_QUERY_FAILED = "source_query_failed"
# Paging that would never end: a `next_page` that repeats a page already read, or more pages than the cap.
REPEATED_PAGE_TOKEN = "repeated_page_token"
PAGE_LIMIT_EXCEEDED = "page_limit_exceeded"
