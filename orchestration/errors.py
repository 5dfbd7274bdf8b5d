"""The one exception a configuration mistake raises, and how a command shows it.

Every check of the configuration directory's files and of the settings read from the environment raises
`ConfigError` (or a subclass named after the file kind). Its str is the whole message for the operator:
the file and line, or the environment variable, the entry, what is wrong and what to write instead. A
command prints it alone, without a traceback (`exit_on_config_error`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

# The exit status of a command stopped by its configuration (2, as for a usage error).
CONFIG_EXIT_STATUS = 2


class ConfigError(ValueError):
    """A configuration file or an environment setting is wrong; the message names where and what to set."""


@contextmanager
def exit_on_config_error() -> Iterator[None]:
    """Around a command's body: a ConfigError becomes its message on stderr and exit status 2."""
    try:
        yield
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        raise SystemExit(CONFIG_EXIT_STATUS) from None
