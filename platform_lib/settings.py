"""Where the mesh keeps everything it writes at run time: one root, `MESH_HOME`.

The default is `<project>/.mesh`, resolved to an absolute path and exported once, so
every process the platform starts (dbt subprocesses, Dagster run workers) agrees on it
whatever its working directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def mesh_home() -> Path:
    home = Path(os.environ.get("MESH_HOME") or PROJECT_ROOT / ".mesh").expanduser().resolve()
    os.environ["MESH_HOME"] = str(home)
    return home


def duckdb_memory_limit() -> str:
    """How much memory one domain's DuckDB may hold before it spills to disk (DuckDB's own
    default is 80% of RAM per database, so a few busy domains could claim the machine)."""
    return os.environ.get("MESH_DUCKDB_MEMORY_LIMIT", "2GB")


def location_workers() -> int:
    """How many code locations `mesh build` runs at once, each in its own process (its
    producers done first); by default one per CPU. 1 runs them one after another in the
    command's own process."""
    value = os.environ.get("MESH_WORKERS", "")
    if value and not (value.isdigit() and int(value) >= 1):
        raise ValueError(f"MESH_WORKERS must be a whole number of at least 1, not '{value[:20]}'")
    return int(value) if value else max(1, os.cpu_count() or 1)


def ui_url() -> str:
    """Where people reach the Dagster UI; contracts and alerts link to it."""
    return os.environ.get("MESH_UI_URL", "http://127.0.0.1:3000").rstrip("/")


@dataclass(frozen=True)
class MeshPaths:
    """The layout under one mesh root; the only place that knows it."""

    home: Path

    @classmethod
    def from_env(cls) -> "MeshPaths":
        return cls(mesh_home())

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def products(self) -> Path:
        return self.home / "products"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    def landing_dir(self, domain: str, source: str) -> Path:
        return self.landing / domain / source

    def warehouse(self, domain: str) -> Path:
        return self.home / "warehouse" / f"{domain}.duckdb"

    def port(self, domain: str, product: str, major: int) -> Path:
        return self.products / domain / product / f"v{major}"
