"""The Dagster instance the mesh records its runs in: `$DAGSTER_HOME`, by default
`<mesh root>/dagster`, configured by the instance config written here on first use."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.instance.ref import InstanceRef
from dagster._serdes import ConfigurableClassData

from platform_lib.config import MeshPaths
from platform_lib.ops.sqlite_storage import PooledSqliteStorage

SQLITE_STORAGE = ("dagster._core.storage.sqlite_storage", "DagsterSqliteStorage")

# The local instance: embedded SQLite storage under $DAGSTER_HOME. It is written into the
# instance folder, not kept in the project folder, where `dagster dev` would only warn that
# a dagster.yaml beside it is not used. The production instance (Postgres storage, gRPC code
# servers) is deploy/dagster.yaml.
INSTANCE_CONFIG = """\
# The mesh's local Dagster instance, written by `mesh` on first use (platform_lib/ops/instance.py).
# Edit it freely: it is never overwritten. The production instance is deploy/dagster.yaml.
# No usage statistics leave the machine, and the UI shows no first-visit community pop-up.
telemetry:
  enabled: false
nux:
  enabled: false

# One writer per domain DuckDB file: every asset of a domain runs in the pool
# duckdb_<domain>, and a pool admits one step at a time across all runs.
concurrency:
  pools:
    default_limit: 1
  runs:
    max_concurrent_runs: 4

# Runs whose process died are marked failed, which also frees their pool slots.
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  poll_interval_seconds: 30
"""


def dagster_home(paths: MeshPaths | None = None) -> Path:
    """The instance folder (`DAGSTER_HOME`, by default `<mesh root>/dagster`), made on first
    use with the mesh's instance config."""
    home = (paths or MeshPaths.from_env()).dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_CONFIG)
    return home


def mesh_instance(paths: MeshPaths | None = None) -> DagsterInstance:
    """The instance as its config says; where that is Dagster's SQLite storage (the local
    default), the same storage with its connections kept open (`sqlite_storage.py`)."""
    ref = InstanceRef.from_dir(str(dagster_home(paths)))
    if (ref.storage_data.module_name, ref.storage_data.class_name) == SQLITE_STORAGE:
        pooled = ConfigurableClassData(PooledSqliteStorage.__module__, PooledSqliteStorage.__name__,
                                       ref.storage_data.config_yaml)
        ref = ref._replace(storage_data=pooled)
    return DagsterInstance.from_ref(ref)


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
        # A re-execution launched from the UI inherits its parent's tags, process ones too,
        # but runs in a run worker of its own: only the mesh's own runs are its to recover.
        if run.parent_run_id is not None or pid is None or host != socket.gethostname() or _alive(int(pid)):
            continue
        instance.report_run_failed(run, "the process running it was killed; marked failed by the next mesh command")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(run.run_id)
    return recovered
