"""Freshness, measured end to end: land a new batch in every domain, then wait until a
consumer product has published a version built after every run the batch set off."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from dagster import AssetKey, DagsterInstance, DagsterRunStatus
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import InstigatorStatus, TickStatus

from platform_lib.config import MeshPaths
from platform_lib.dagster.automation.conditions import automation_sensor_name
from platform_lib.dagster.automation.landing import landing_sensor_name
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
    # Where the time went: each run the batch set off, as (code location, seconds from the
    # landing to its creation, to its start, to its end), in the order they were created.
    timeline: list[tuple[str, float, float | None, float | None]] = field(default_factory=list)

    @property
    def latency(self) -> float:
        return self.published_at - self.landed_at


def land_everywhere(paths: MeshPaths, tag: str, rows: int | None = BATCH_ROWS) -> tuple[float, int]:
    """A new batch for every domain: about `rows` new events, and new versions of some
    entity records; returns when it landed and how many files.

    The batch is generated aside and its files appear by rename, as an upload that writes a
    temporary name does: it landed when the first of them appeared (its change time), not
    when generating it began (4 to 5 s of reading history at the large seed)."""
    files = land_increment(paths, declared_sources(code_locations()), tag, rows=rows)
    return min(f.stat().st_ctime for f in files), len(files)


def batch_sensors() -> set[str]:
    """The sensors that carry a batch through the mesh: each domain's landing sensor starts
    its run, its automation sensor the runs of what reads a product that changed."""
    return {name(location.name) for location in code_locations() for name in (landing_sensor_name, automation_sensor_name)}


def sensors_idle_since(instance: DagsterInstance, since: float) -> bool:
    """Whether every running sensor that carries a batch has finished a tick that began after
    `since` and asked for nothing: then no run of the batch is still to come."""
    carrying = batch_sensors()
    states = [s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
              if s.instigator_name in carrying and s.status != InstigatorStatus.STOPPED]
    return bool(states) and all(
        instance.get_ticks(s.instigator_origin_id, s.selector_id, after=since, limit=1, statuses=[TickStatus.SKIPPED])
        for s in states)


def wait_published(instance: DagsterInstance, key: AssetKey, landed_at: float, files: int, timeout: float,
                   poll: float = 0.5) -> Arrival:
    """Wait for `key`'s last publication caused by the batch: a materialization after
    `landed_at`, no run in flight, and every batch sensor idle since the last run ended;
    the instance is asked every `poll` seconds (the latency is the materialization's own time)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        runs = [r for r in instance.get_run_records(limit=200) if r.create_timestamp.timestamp() >= landed_at]
        busy = any(r.dagster_run.status in IN_FLIGHT for r in runs)
        event = instance.get_latest_materialization_event(key)
        if not busy and event is not None and event.timestamp >= landed_at:
            last_end = max((r.end_time or 0 for r in runs), default=landed_at)
            if sensors_idle_since(instance, max(last_end, landed_at)):
                failed = sum(r.dagster_run.status == DagsterRunStatus.FAILURE for r in runs)
                return Arrival(landed_at, event.timestamp, files, len(runs), failed, _timeline(runs, landed_at))
        time.sleep(poll)
    raise TimeoutError(f"{key.to_user_string()} was not published within {timeout:.0f}s of the batch landing")


def _timeline(runs, landed_at: float) -> list[tuple[str, float, float | None, float | None]]:
    def location(record) -> str:
        keys = record.dagster_run.asset_selection or ()
        return next(iter(keys)).path[0] if keys else record.dagster_run.job_name

    def since(moment: float | None) -> float | None:  # None: a run that never started (or ended)
        return None if moment is None else round(moment - landed_at, 1)

    return [(location(r), since(r.create_timestamp.timestamp()), since(r.start_time), since(r.end_time))
            for r in sorted(runs, key=lambda r: r.create_timestamp)]
