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
INVALID_JSON_PAGE = "invalid_json_page"
PAGE_WITHOUT_RECORDS = "page_without_records"
EMPTY_FILE = "empty_file"
BAD_PATH_PATTERN = "bad_path_pattern"
