"""A domain's retention job and its daily schedule (the removal itself: `privacy/retention.py`)."""

from datetime import datetime, timezone

from dagster import JobDefinition, OpExecutionContext, Output, ScheduleDefinition, job, op

from platform_lib.dagster.automation.switch import schedule_status
from platform_lib.dagster.resources import MeshResource, writer_pool
from platform_lib.declare.spec import DataProduct, Source
from platform_lib.privacy.retention import expire_domain

RETENTION_JOB = "retention"

def retention_job(domain: str, sources: list[Source], products: list[DataProduct]) -> JobDefinition:
    @op(name="expire_data", pool=writer_pool(domain),
        description=f"Physically remove {domain}'s data older than its declared retention from every store.")
    def expire_data(context: OpExecutionContext, mesh: MeshResource):
        removed = expire_domain(mesh.paths, domain, sources, products, datetime.now(timezone.utc))
        context.log.info(
            f"retention in {domain}: {removed['landing_files_removed']} landing files, "
            f"{sum(removed['warehouse_rows_removed'].values())} warehouse rows, "
            f"{sum(removed['port_rows_removed'].values())} port rows, "
            f"{sum(removed['port_files_vacuumed'].values())} old port files removed")
        yield Output(None, metadata=removed)

    @job(name=RETENTION_JOB, tags={"mesh/privacy": "retention"},
         description=f"Remove {domain}'s expired data: landing files, staged rows, quarantine, port rows and old port versions.")
    def _retention():
        expire_data()

    return _retention

def retention_schedule(job_def: JobDefinition) -> ScheduleDefinition:
    return ScheduleDefinition(
        name="retention_daily", job=job_def, cron_schedule="30 3 * * *", execution_timezone="UTC",
        default_status=schedule_status(),
        description="Daily at 03:30 UTC: remove data past its declared retention from every store of the domain.",
    )
