"""Named points where the platform can be killed on purpose, to prove a run killed at the
worst moment changes nothing consumers read: `MESH_FAILPOINTS=port.publish` makes the
process SIGKILL itself when it reaches that point (comma-separate several).

Points: `stage.commit` (a source's new files are read and audited, the staging transaction
is not yet committed), `audit.write` (the batch is built in the domain's DuckDB file and
audited, not yet published), `port.publish` (Delta data files are being written, the commit
is not yet made), `port.committed` (the port's new version is committed, the build that
made it is not yet recorded)."""

from __future__ import annotations

import os
import signal

from platform_lib.config import settings


def reached(point: str) -> None:
    if point in settings().failpoint_names:
        os.kill(os.getpid(), signal.SIGKILL)
