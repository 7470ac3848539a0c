"""Resources every domain gets: its own DuckDB file, and the mesh layout."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource

from platform_lib.settings import MeshPaths, duckdb_memory_limit, mesh_home
from platform_lib.sla.alerts import notifier


class MeshResource(ConfigurableResource):
    """The mesh root; empty means `MESH_HOME` (default `<project>/.mesh`)."""

    home: str = ""

    @property
    def paths(self) -> MeshPaths:
        return MeshPaths(Path(self.home).resolve()) if self.home else MeshPaths(mesh_home())


class DomainWarehouse(DuckDBResource):
    """The domain's own DuckDB file; only this domain's code location opens it.
    Sessions run in UTC so dates cut from timestamps agree on every machine."""

    @contextmanager
    def get_connection(self):
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        with super().get_connection() as con:
            con.execute("SET TimeZone = 'UTC'")
            yield con


def warehouse(domain: str, paths: MeshPaths) -> DomainWarehouse:
    return DomainWarehouse(database=str(paths.warehouse(domain)), connection_config={"memory_limit": duckdb_memory_limit()})


def domain_resources(domain: str, paths: MeshPaths | None = None) -> dict:
    paths = paths or MeshPaths.from_env()
    return {
        "warehouse": warehouse(domain, paths),
        "mesh": MeshResource(home=str(paths.home)),
        "notifier": notifier(paths),
    }
