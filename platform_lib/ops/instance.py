"""The Dagster instance the mesh records its runs in: `$DAGSTER_HOME`, by default
`<mesh root>/dagster`, configured by the project's dagster.yaml."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from platform_lib.config import PROJECT_ROOT, MeshPaths


def dagster_home(paths: MeshPaths | None = None) -> Path:
    """The instance folder (`DAGSTER_HOME`, by default `<mesh root>/dagster`), made on first
    use with the project's dagster.yaml."""
    home = (paths or MeshPaths.from_env()).dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", config)
    return home


def mesh_instance(paths: MeshPaths | None = None) -> DagsterInstance:
    return DagsterInstance.from_config(str(dagster_home(paths)))


# Runs the mesh CLI executes in its own process carry these, so a later command can tell
# a run that is still going from one whose process was killed.
PID_TAG = "mesh/pid"
HOST_TAG = "mesh/host"


def process_tags() -> dict[str, str]:
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_orphaned_runs(instance: DagsterInstance) -> list[str]:
    """Mark runs of killed mesh processes failed and free the pool slots they held, so a
    killed build or erasure never blocks the domain's writer pool for the next one."""
    recovered = []
    for record in instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING])):
        run = record.dagster_run
        pid, host = run.tags.get(PID_TAG), run.tags.get(HOST_TAG)
        if pid is None or host != socket.gethostname() or _alive(int(pid)):
            continue
        instance.report_run_failed(run, "the process running it was killed; marked failed by the next mesh command")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(run.run_id)
    return recovered
