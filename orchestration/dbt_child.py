"""dbt as the pipeline starts it (DBT_EXECUTABLE): the dbt CLI, bound to the life of its parent.

dagster-dbt runs dbt as a child process. Killed with SIGKILL, a run's process cannot stop it, and the
orphan would go on writing the warehouse after the next run's start had marked the run failed and freed
its pool slot (orchestration/runner.py): two writers at once. Linux delivers SIGKILL to this process when
its parent dies; the warehouse rolls back what dbt had not committed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def bind_to_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent == 1:  # the parent died before the binding: nobody waits for this dbt
        os._exit(1)


def main() -> None:
    bind_to_parent()
    from dbt.cli.main import cli

    sys.exit(cli())


if __name__ == "__main__":
    main()
