"""The production topology on one machine: a real PostgreSQL server, one gRPC code server
per domain, the daemon and the webserver, configured from `deploy/` (used by the
topology test and the freshness benchmark)."""

from platform_lib.deploy.postgres import LocalPostgres
from platform_lib.deploy.topology import Topology

__all__ = ["LocalPostgres", "Topology"]
