"""Retention: every store keeps data only as long as declared, then removes it physically.

Sources declare `retention_days` for their landing files and staged rows, products for
the rows of their output ports; `governance/retention.yaml` declares the stores the
platform keeps on its own: quarantine, superseded port versions, the access audit log.
"""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import yaml
from dagster import JobDefinition, OpExecutionContext, Output, ScheduleDefinition, job, op
from deltalake import DeltaTable
from pydantic import BaseModel

from platform_lib.audit import lit, q
from platform_lib.governance.registry import governance_dir
from platform_lib.landing import EXTENSIONS, header
from platform_lib.automation.settings import AUTOMATION
from platform_lib.privacy.stores import reader
from platform_lib.resources import MeshResource
from platform_lib.settings import MeshPaths
from platform_lib.spec import DataProduct, Source

RETENTION_JOB = "retention"


class StoreRetention(BaseModel):
    quarantine_days: int = 90
    port_old_versions_days: int = 7
    audit_log_days: int = 2555


def store_retention() -> StoreRetention:
    path = governance_dir() / "retention.yaml"
    return StoreRetention.model_validate(yaml.safe_load(path.read_text()) or {}) if path.exists() else StoreRetention()


def _cutoff(days: int, now: datetime) -> datetime:
    return now - timedelta(days=days)


def expire_landing(con: duckdb.DuckDBPyConnection, paths: MeshPaths, source: Source, now: datetime) -> int:
    """Remove landing files whose every row is older than the source's retention."""
    removed = 0
    cutoff = _cutoff(source.retention_days, now)
    folder = paths.landing_dir(source.domain, source.name)
    for f in sorted(folder.glob(f"*{EXTENSIONS[source.format]}")) if folder.is_dir() else []:
        columns = header(source.format, f)
        if source.event_time not in columns:
            continue
        newest = con.execute(f"SELECT max(try_cast({q(source.event_time)} AS TIMESTAMPTZ)) FROM {reader(f, columns)}").fetchall()[0][0]
        if newest is not None and newest < cutoff:
            f.unlink()
            removed += 1
    return removed


def expire_warehouse(con: duckdb.DuckDBPyConnection, sources: list[Source], quarantine_days: int, now: datetime) -> dict[str, int]:
    removed = {}
    tables = {f"{s}.{t}" for s, t in con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()}
    for source in sources:
        if source.table in tables:
            where = f"{q(source.event_time)} < {lit(_cutoff(source.retention_days, now).isoformat())}::TIMESTAMPTZ"
            removed[source.table] = con.execute(f"SELECT count(*) FROM {source.table} WHERE {where}").fetchall()[0][0]
            con.execute(f"DELETE FROM {source.table} WHERE {where}")
    if "quarantine.records" in tables:
        where = f"quarantined_at < {lit(_cutoff(quarantine_days, now).isoformat())}::TIMESTAMPTZ"
        removed["quarantine.records"] = con.execute(f"SELECT count(*) FROM quarantine.records WHERE {where}").fetchall()[0][0]
        con.execute(f"DELETE FROM quarantine.records WHERE {where}")
    return removed


def expire_port(folder: Path, product: DataProduct, old_versions_days: int, now: datetime) -> tuple[int, int]:
    """(rows deleted past the product's retention, superseded files vacuumed)."""
    dt = DeltaTable(str(folder))
    cutoff = _cutoff(product.retention_days or 0, now).strftime("%Y-%m-%d %H:%M:%S")
    metrics = dt.delete(f"{product.event_time} < '{cutoff}'") if product.retention_days else {}
    vacuumed = DeltaTable(str(folder)).vacuum(retention_hours=old_versions_days * 24, enforce_retention_duration=False,
                                              dry_run=False)
    return int(metrics.get("num_deleted_rows", 0)), len(vacuumed)


def retention_job(domain: str, sources: list[Source], products: list[DataProduct]) -> JobDefinition:
    @op(name="expire_data", pool=f"duckdb_{domain}",
        description=f"Physically remove {domain}'s data older than its declared retention from every store.")
    def expire_data(context: OpExecutionContext, mesh: MeshResource):
        paths, now, stores = mesh.paths, datetime.now(timezone.utc), store_retention()
        con = duckdb.connect()
        files = {s.id: expire_landing(con, paths, s, now) for s in sources}
        con.close()
        rows: dict[str, int] = {}
        if paths.warehouse(domain).exists():
            wh = duckdb.connect(str(paths.warehouse(domain)))
            try:
                rows = expire_warehouse(wh, sources, stores.quarantine_days, now)
            finally:
                wh.close()
        ports = {}
        for product in products:
            for folder in sorted((paths.products / domain / product.name).glob("v*")):
                if (folder / "_delta_log").is_dir():
                    ports[f"{product.id}/{folder.name}"] = expire_port(folder, product, stores.port_old_versions_days, now)
        context.log.info(f"retention in {domain}: {sum(files.values())} landing files, {sum(rows.values())} warehouse rows, "
                         f"{sum(r for r, _ in ports.values())} port rows, {sum(f for _, f in ports.values())} old port files removed")
        yield Output(None, metadata={
            "landing_files_removed": sum(files.values()), "landing_files_by_source": files,
            "warehouse_rows_removed": rows,
            "port_rows_removed": {k: r for k, (r, _) in ports.items()},
            "port_files_vacuumed": {k: f for k, (_, f) in ports.items()},
        })

    @job(name=RETENTION_JOB, tags={"mesh/privacy": "retention"},
         description=f"Remove {domain}'s expired data: landing files, staged rows, quarantine, port rows and old port versions.")
    def _retention():
        expire_data()

    return _retention


def retention_schedule(job_def: JobDefinition) -> ScheduleDefinition:
    return ScheduleDefinition(
        name="retention_daily", job=job_def, cron_schedule="30 3 * * *", execution_timezone="UTC",
        default_status=AUTOMATION.schedule_status,
        description="Daily at 03:30 UTC: remove data past its declared retention from every store of the domain.",
    )
