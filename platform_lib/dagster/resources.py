"""Resources every domain gets: its own warehouse, the mesh root and its SLA notifier."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

from platform_lib.config import MeshPaths, settings
from platform_lib.dagster.sla_alerts import Notifier
from platform_lib.storage import warehouse


class MeshResource(ConfigurableResource):
    """The mesh root; empty means the configured one (`MESH_HOME`), read when a run starts."""

    home: str = ""

    @property
    def paths(self) -> MeshPaths:
        return MeshPaths(Path(self.home).resolve()) if self.home else settings().paths


class DomainWarehouse(ConfigurableResource):
    """The domain's own DuckDB file; only this domain's code location opens it."""

    domain: str
    home: str = ""

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(MeshResource(home=self.home).paths, self.domain) as con:
            yield con


def writer_pool(domain: str) -> str:
    """One writer per domain DuckDB file: every step that writes it shares this pool."""
    return f"duckdb_{domain}"


def domain_resources(domain: str, paths: MeshPaths | None = None) -> dict:
    """A domain's resources; without `paths`, the mesh root is the configured one."""
    home = str(paths.home) if paths else ""
    return {
        "warehouse": DomainWarehouse(domain=domain, home=home),
        "mesh": MeshResource(home=home),
        "notifier": Notifier(home=home, slack_webhook_url=settings().slack_webhook_url),
    }
