"""Which errors are the user's to fix, shown as one paragraph without a traceback (exit code 2)."""

from __future__ import annotations

from orchestration.sources.errors import SourceRejected
from orchestration.warehouse import WarehouseUnreachable

# The pipeline's own errors: a warehouse or source that cannot be reached, a rejected batch. Every
# ValueError subclass the pipeline defines is a configuration error with a message for the user
# (CatalogueError, CommitmentError, CalendarError, SourceConfigError, AlertConfigError, ...).
KNOWN_ERRORS: tuple[type[BaseException], ...] = (WarehouseUnreachable, SourceRejected)
USER_ERROR_EXIT_CODE = 2


def is_user_error(err: BaseException) -> bool:
    if isinstance(err, KNOWN_ERRORS):
        return True
    return isinstance(err, ValueError) and type(err).__module__.split(".")[0] == "orchestration"
