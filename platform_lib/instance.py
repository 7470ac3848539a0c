"""The Dagster instance the mesh records its runs in: `$DAGSTER_HOME`, by default
`<mesh root>/dagster`, configured by the project's dagster.yaml."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dagster import DagsterInstance

from platform_lib.settings import PROJECT_ROOT, MeshPaths


def dagster_home(paths: MeshPaths | None = None) -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or (paths or MeshPaths.from_env()).dagster_home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", config)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def mesh_instance(paths: MeshPaths | None = None) -> DagsterInstance:
    dagster_home(paths)
    return DagsterInstance.get()
