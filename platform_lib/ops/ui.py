"""`mesh ui`: the Dagster UI (webserver and daemon, `dagster dev`) on the mesh's own instance,
with every run and materialization the mesh recorded, and nothing rebuilt.

It runs `dagster dev -w workspace.yaml`, not `dg dev`: `dg` serves a workspace of `dg`
projects, each its own Python package and environment, while the mesh is one project whose
five code locations are listed in workspace.yaml, the same file the production workspace
mirrors. Dagster marks `dagster dev` as superseded, not deprecated; that notice is silenced
here because the choice is made (README, "Why `dagster dev`")."""

from __future__ import annotations

import os
import signal
import sys
from typing import NoReturn
from urllib.parse import urlsplit

from platform_lib import config
from platform_lib.config import PROJECT_ROOT, MeshPaths
from platform_lib.ops.instance import dagster_home

SUPERSEDED_NOTICE = "ignore:Function `dev_command` is superseded:FutureWarning"


def address(host: str | None, port: int | None) -> tuple[str, int]:
    """Where to serve: the given host and port, else those of `MESH_UI_URL`."""
    configured = urlsplit(config.settings().ui_url)
    return host or configured.hostname or "127.0.0.1", port or configured.port or 3000


def command(host: str, port: int) -> list[str]:
    return [sys.executable, "-W", SUPERSEDED_NOTICE, "-m", "dagster", "dev",
            "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", host, "-p", str(port)]


def serve(paths: MeshPaths, host: str, port: int) -> NoReturn:
    """Replace this process with `dagster dev` on the mesh's instance (made if missing)."""
    dagster_home(paths)
    # A shell that starts a command in the background makes it ignore SIGINT, and dagster dev
    # handles SIGTERM as it handles SIGINT: with both at their defaults, the UI and every
    # process it starts stop cleanly on SIGTERM as on Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.chdir(PROJECT_ROOT)  # the code servers import the domains from the project folder
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, command(host, port), config.child_environment())
