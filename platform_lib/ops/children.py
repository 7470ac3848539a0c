"""Processes the mesh starts die with the command that started them: a `kill -9` of
`mesh build` or `mesh erase` leaves no location process and no dbt run writing to a
domain's files, as a single process would."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Ask the kernel to kill this process when `parent` dies; exit at once if it already has."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)  # the parent died before this child could ask to die with it


def _runs_this_interpreter(pid: int) -> bool:
    """Whether process `pid` runs the same Python binary as this one: the step that starts
    `mesh-dbt` does; init or a subreaper that adopts an orphan does not."""
    try:
        return os.readlink(f"/proc/{pid}/exe") == os.readlink("/proc/self/exe")
    except OSError:
        return sys.platform != "linux"  # no /proc to ask: trust the parent


def dbt() -> None:
    """`mesh-dbt`: dbt itself, killed with the step that runs it. dagster-dbt starts it as
    its dbt executable; the request to die survives the exec into dbt (or, warm, the fork
    running dbt dies with this process: `platform_lib.ops.warm_dbt`). The step may die
    while this process starts, before it can ask: it is then already an orphan, adopted by
    a process that runs no Python step, and it exits rather than start dbt."""
    parent = os.getppid()
    die_with_parent(parent)
    if not _runs_this_interpreter(parent):
        os._exit(1)
    from platform_lib.config import settings

    if settings().dbt_warm:
        from platform_lib.ops import warm_dbt

        code = warm_dbt.run(sys.argv[1:])
        if code is not None:
            sys.exit(code)
    executable = Path(sys.executable).parent / "dbt"
    os.execv(executable, [str(executable), *sys.argv[1:]])
