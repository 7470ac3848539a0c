"""Retention: every store keeps data only as long as declared, then removes it physically.

Sources declare `retention_days` for their landing files and staged rows, products for
the rows of their output ports; `governance/retention.yaml` declares the stores the
platform keeps on its own: quarantine, superseded port versions, the access audit log.
"""

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import yaml
from deltalake import DeltaTable
from pydantic import BaseModel

from platform_lib.config import MeshPaths
from platform_lib.declare.spec import DataProduct, Source
from platform_lib.governance.registry import governance_dir
from platform_lib.storage import staged, warehouse
from platform_lib.storage.landing import Unreadable, header, reader, rewrite_without, source_files
from platform_lib.storage.ports import OutputPort, drop_change_feed, port_versions
from platform_lib.storage.sql import lit, q


class StoreRetention(BaseModel):
    quarantine_days: int = 90
    port_old_versions_days: int = 7
    audit_log_days: int = 2555


def store_retention() -> StoreRetention:
    path = governance_dir() / "retention.yaml"
    return StoreRetention.model_validate(yaml.safe_load(path.read_text()) or {}) if path.exists() else StoreRetention()


def _cutoff(days: int, now: datetime) -> datetime:
    return now - timedelta(days=days)


def expire_landing(con: duckdb.DuckDBPyConnection, paths: MeshPaths, source: Source, now: datetime) -> tuple[int, int]:
    """Take the rows older than the source's retention out of its landing files: a file
    holding some is rewritten without them, a file left empty is removed (so a full
    refresh stages exactly what the warehouse kept). Returns (files removed, rows removed)."""
    files = rows = 0
    cutoff = lit(_cutoff(source.retention_days, now).isoformat())
    folder = paths.landing_dir(source.domain, source.name)
    for f in source_files(folder, source.format):
        try:
            columns = header(source.format, f)
            if source.event_time in columns:
                rows += rewrite_without(con, f, reader(f, columns),
                                        f"try_cast({q(source.event_time)} AS TIMESTAMPTZ) < {cutoff}::TIMESTAMPTZ")
        except (Unreadable, duckdb.Error, UnicodeError):
            continue  # a file no reader parses whole stays as it landed (staging quarantined it)
        files += not f.exists()
    return files, rows


def expire_warehouse(con: duckdb.DuckDBPyConnection, sources: list[Source], quarantine_days: int, now: datetime) -> dict[str, int]:
    removed = {}
    tables = {f"{s}.{t}" for s, t in con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()}
    for source in sources:
        cutoff = f"{lit(_cutoff(source.retention_days, now).isoformat())}::TIMESTAMPTZ"
        # The staged rows, every version of an entity, and the landed records staging audits
        # from (or a later run would stage an expired record again).
        stores = {source.table: q(source.event_time), source.history_table: q(source.event_time),
                  f"landed.{source.name}": staged.typed(source, source.event_time)}
        stores = {table: f"{when} < {cutoff}" for table, when in stores.items() if table in tables}
        _log_expired(con, source, {t: w for t, w in stores.items() if t != f"landed.{source.name}"})
        for table, where in stores.items():
            removed[table] = con.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchall()[0][0]
            if table == f"landed.{source.name}":
                staged.keep_pending(con, source.id, where)
            con.execute(f"DELETE FROM {table} WHERE {where}")
    if "quarantine.records" in tables:
        where = f"quarantined_at < {lit(_cutoff(quarantine_days, now).isoformat())}::TIMESTAMPTZ"
        removed["quarantine.records"] = con.execute(f"SELECT count(*) FROM quarantine.records WHERE {where}").fetchall()[0][0]
        con.execute(f"DELETE FROM quarantine.records WHERE {where}")
    return removed


def _log_expired(con: duckdb.DuckDBPyConnection, source: Source, expired: dict[str, str]) -> None:
    """Record the staged records about to expire as a staging run of their source (their
    key, identifiers and event time, as they were): products computed per key recompute
    the keys they reach, the others are recomputed as after any staging run, and records
    elsewhere pointing at an expired one are audited again."""
    if not expired or not staged.last_staging(con, source.id):
        return
    logged = staged.logged_columns(source)
    listed = ", ".join(q(c) for c in logged)
    staged.log_deleted(con, source.id, logged, " UNION ".join(f"SELECT {listed} FROM {table} WHERE {where}"
                                                              for table, where in expired.items()), "retention")


def expire_port(folder: Path, product: DataProduct, old_versions_days: int, now: datetime) -> tuple[int, int]:
    """(rows deleted past the product's retention, superseded files vacuumed)."""
    dt = DeltaTable(str(folder))
    cutoff = _cutoff(product.retention_days or 0, now).strftime("%Y-%m-%d %H:%M:%S")
    metrics = dt.delete(f"{product.event_time} < '{cutoff}'") if product.retention_days else {}
    twin = OutputPort(folder).masked()
    if metrics.get("num_deleted_rows") and twin.exists():
        # The masked twin (and every version of it) held the expired rows too: it goes,
        # and the product's next build makes it anew from the port.
        twin.remove()
    # Superseded versions go after `old_versions_days`, and with them the change feed's files:
    # the port's, and its masked twin's, whose old versions hold the same rows masked.
    vacuumed = 0
    for kept in (p for p in (OutputPort(folder), twin) if p.exists()):
        vacuumed += len(kept.vacuum(old_versions_days * 24))
        vacuumed += drop_change_feed(kept.path, old_versions_days * 24)
    return int(metrics.get("num_deleted_rows", 0)), vacuumed


def expire_domain(paths: MeshPaths, domain: str, sources: list[Source], products: list[DataProduct],
                  now: datetime) -> dict:
    """Remove everything of `domain` past its retention, in every store; what was removed."""
    stores = store_retention()
    con = warehouse.scratch()
    landing = {s.id: expire_landing(con, paths, s, now) for s in sources}
    con.close()
    files = {source: n for source, (n, _) in landing.items()}
    rows: dict[str, int] = {}
    if paths.warehouse(domain).exists():
        with warehouse.connect(paths, domain) as wh:
            rows = expire_warehouse(wh, sources, stores.quarantine_days, now)
    ports = {}
    for product in products:
        for folder in port_versions(paths, domain, product.name):
            ports[f"{product.id}/{folder.name}"] = expire_port(folder, product, stores.port_old_versions_days, now)
    return {
        "landing_files_removed": sum(files.values()), "landing_files_by_source": files,
        "landing_rows_removed": {source: n for source, (_, n) in landing.items()},
        "warehouse_rows_removed": rows,
        "port_rows_removed": {k: r for k, (r, _) in ports.items()},
        "port_files_vacuumed": {k: f for k, (_, f) in ports.items()},
    }
