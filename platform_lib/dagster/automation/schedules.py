"""The daily full rebuild of a domain: every staged source and product, from every landed
file (a full refresh; the runs in between stage only what landed since the last one)."""

from __future__ import annotations

from dagster import AssetSelection, ScheduleDefinition, define_asset_job

from platform_lib.dagster.assets import FULL_REFRESH_TAG
from platform_lib.dagster.automation.switch import schedule_status

FULL_REBUILD_JOB = "full_rebuild"


def full_rebuild_schedule(domain: str) -> ScheduleDefinition:
    return ScheduleDefinition(
        name="full_rebuild_daily",
        job=define_asset_job(FULL_REBUILD_JOB, selection=AssetSelection.all(),
                             description=f"Every {domain} source and product, rebuilt from every landed file "
                                         "(a full refresh: what `mesh build --full-refresh` runs).",
                             tags={"mesh/trigger": "schedule", "mesh/code_location": domain, FULL_REFRESH_TAG: "true"}),
        cron_schedule="0 2 * * *",
        execution_timezone="UTC",
        default_status=schedule_status(),
        description=f"Daily at 02:00 UTC: rebuild all of {domain}; consumers in other domains follow by automation.",
    )
