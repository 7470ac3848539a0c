"""Freshness, measured end to end: land a new batch in every domain, then wait until a
consumer product has published a version built after every run the batch set off."""

from __future__ import annotations

import time
from dataclasses import dataclass

from dagster import AssetKey, DagsterInstance, DagsterRunStatus

from platform_lib.config import MeshPaths
from platform_lib.dagster.workspace import code_locations, declared_sources
from platform_lib.ops.seed.increment import land_increment

# One new batch: about 1% of the large seed's records (15.1M), the same size at every scale,
# so batch figures compare history, not batch size.
BATCH_ROWS = 150_000
IN_FLIGHT = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


@dataclass
class Arrival:
    landed_at: float
    published_at: float
    files: int
    runs: int
    failed_runs: int

    @property
    def latency(self) -> float:
        return self.published_at - self.landed_at


def land_everywhere(paths: MeshPaths, tag: str, rows: int | None = BATCH_ROWS) -> tuple[float, int]:
    """A new batch for every domain: about `rows` new events, and new versions of some
    entity records; returns when it landed and how many files."""
    sources = declared_sources(code_locations())
    landed_at = time.time()
    return landed_at, len(land_increment(paths, sources, tag, rows=rows))


def wait_published(instance: DagsterInstance, key: AssetKey, landed_at: float, files: int, settle: float,
                   timeout: float, poll: float = 0.5) -> Arrival:
    """Wait for `key`'s last publication caused by the batch: a materialization after
    `landed_at`, with no run in flight and none started for `settle` seconds, asking the
    instance every `poll` seconds (the latency is the materialization's own time)."""
    deadline = time.time() + timeout
    quiet_since = None
    while time.time() < deadline:
        runs = [r for r in instance.get_run_records(limit=200) if r.create_timestamp.timestamp() >= landed_at]
        busy = any(r.dagster_run.status in IN_FLIGHT for r in runs)
        event = instance.get_latest_materialization_event(key)
        published = event is not None and event.timestamp >= landed_at
        if busy or not published:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since >= settle:
            failed = sum(r.dagster_run.status == DagsterRunStatus.FAILURE for r in runs)
            return Arrival(landed_at, event.timestamp, files, len(runs), failed)
        time.sleep(poll)
    raise TimeoutError(f"{key.to_user_string()} was not published within {timeout:.0f}s of the batch landing")
