"""Which errors are the user's to fix, shown as one paragraph without a traceback (exit code 2)."""

from __future__ import annotations

from orchestration.errors import CONFIG_EXIT_STATUS, ConfigError
from orchestration.sources.errors import SourceRejected
from orchestration.warehouse import WarehouseUnreachable

# The pipeline's own errors: a configuration mistake (every file's and setting's error is a ConfigError),
# a warehouse or source that cannot be reached, a rejected batch. Any other ValueError subclass the
# pipeline defines also carries a message for the user.
KNOWN_ERRORS: tuple[type[BaseException], ...] = (ConfigError, WarehouseUnreachable, SourceRejected)
USER_ERROR_EXIT_CODE = CONFIG_EXIT_STATUS  # as the pipeline's own commands exit on a configuration error


def is_user_error(err: BaseException) -> bool:
    if isinstance(err, KNOWN_ERRORS):
        return True
    return isinstance(err, ValueError) and type(err).__module__.split(".")[0] == "orchestration"
