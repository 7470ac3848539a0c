"""Write, audit, publish: the one path every product's batch takes to its output port.

The build has left a candidate batch in the domain's DuckDB. The audit quarantines
failing rows and enforces the Pandera contract on the rest; only when every blocking
check passes is the batch committed to the Delta output port, together with the older
major versions still inside their deprecation notice. Otherwise the previous port
version keeps serving and the outcome names the product, rule and fix. The five SLAs
are measured on the way; the orchestrator turns the outcome into its checks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import duckdb
from dagster import AssetKey, DagsterInstance, MetadataValue

from platform_lib.config import MeshPaths
from platform_lib.declare import versions
from platform_lib.declare.checks import QUALITY_SCORE, SCHEMA_CONTRACT, SCHEMA_STABILITY
from platform_lib.declare.spec import DataProduct
from platform_lib.governance import access, secrets
from platform_lib.lifecycle import consent, contract
from platform_lib.lifecycle.audit import AuditResult, audit
from platform_lib.sla import availability, docs_currency, freshness
from platform_lib.storage import failpoints
from platform_lib.storage.ports import MASKING, PORT_VERSION, OutputPort
from platform_lib.storage.sql import q


@dataclass
class Outcome:
    """What one publish did and measured: the audit, the contract, the five SLAs, and
    why the batch was held back, if it was."""

    product: DataProduct
    audit: AuditResult
    contract: contract.ContractResult
    stability: versions.Verdict
    pinned_warnings: tuple[str, ...]
    freshness: freshness.Freshness
    documentation: docs_currency.DocsCurrency
    availability: availability.Availability | None = None
    metadata: dict = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def published(self) -> bool:
        return not self.failures

    def error(self) -> str:
        return (
            f"{self.product.id} was not published; the previous output-port version keeps serving. "
            + " ".join(self.failures)
            + " Rejected rows are in quarantine.records of the domain's DuckDB file."
        )


@dataclass
class Served:
    """What a build that recomputed nothing measures of the version still served: the SLAs
    that change with time (freshness, availability, documentation, the contract's notice)."""

    product: DataProduct
    stability: versions.Verdict
    pinned_warnings: tuple[str, ...]
    freshness: freshness.Freshness
    documentation: docs_currency.DocsCurrency
    availability: availability.Availability


@dataclass(frozen=True)
class PublishContext:
    """What a publish needs besides the batch: where, who, and the history to measure."""

    paths: MeshPaths
    run_id: str
    instance: DagsterInstance
    doc_sources: docs_currency.DocSources | None = None
    pinned_warnings: tuple[str, ...] = ()


def scratch_table(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """Where an audited batch waits for its publish: an in-memory database attached to the
    run's connection. The batch is needed only until it is committed to the port, so it
    is never written to the domain's DuckDB file (for a large batch, most of the cost)."""
    con.execute("ATTACH IF NOT EXISTS ':memory:' AS scratch")
    con.execute("CREATE SCHEMA IF NOT EXISTS scratch.audited")
    return f"scratch.audited.{name}"


def audit_and_publish(con: duckdb.DuckDBPyConnection, product: DataProduct, candidate: str, ctx: PublishContext,
                      where: str | None = None) -> Outcome:
    """Audit the product's table `candidate` and publish it; with `where` (the rows of the
    keys a build recomputed), audit those rows only and replace them in the port."""
    now = datetime.now(timezone.utc)
    legacy_majors = versions.served_majors(product, now.date())
    if where is not None and legacy_majors:
        where = None  # the older majors' ports are shaped from the whole table
    if where is not None and OutputPort.of(ctx.paths, product).pii() != product.pii_masks:
        where = None  # a replace keeps the port's schema: its classifications change in a whole publish
    if where is not None:
        batch = scratch_table(con, f"{product.name}__recomputed")
        con.execute(f"CREATE OR REPLACE TABLE {batch} AS SELECT * FROM {candidate} WHERE {where}")
        candidate = batch
    audited = scratch_table(con, product.name)
    started = time.perf_counter()
    result = audit(con, product, candidate, audited, ctx.run_id, writable=product.consent_flag is not None)
    port = OutputPort.of(ctx.paths, product)
    if where is not None:
        result.rows_kept = port.rows_outside(con, where)
    failpoints.reached("audit.write")
    # Quality is judged on the whole batch (with the rows kept, for a per-key recompute);
    # consent then narrows what may be published.
    without_consent = consent.apply(con, product, audited)
    enforced = contract.enforce(con, product, audited)
    audit_seconds = time.perf_counter() - started
    outcome = Outcome(
        product, result, enforced,
        stability=versions.check(product, now.date()),
        pinned_warnings=ctx.pinned_warnings,
        freshness=_freshness(con, product, audited, port, now, where),
        documentation=docs_currency.measure_sources(ctx.doc_sources, product.sla.docs_max_age_days),
        metadata=result.counts() | {"audit_seconds": round(audit_seconds, 3)},
    )
    if product.consent_flag:
        outcome.metadata |= {"purpose": product.purpose, "rows_without_consent": without_consent}
    if result.quality_score < product.sla.quality_min:
        worst = max(result.violations.items(), key=lambda kv: kv[1], default=("", 0))
        outcome.failures.append(
            f"Check {QUALITY_SCORE} failed: {result.quality_score:.2%} of "
            f"{result.rows_in - result.exact_duplicates_dropped + result.rows_kept} rows are valid, "
            f"below the {product.sla.quality_min:.0%} target (most failures: {worst[0]}, {worst[1]} rows). "
            "Fix the upstream data or the build, then re-run."
        )
    if not enforced.passed:
        outcome.failures.append(
            f"Check {SCHEMA_CONTRACT} failed: the batch does not match the declared schema "
            f"({enforced.failures[:3]}). Fix the build so it returns the declared columns and types."
        )
    if not outcome.stability.ok:
        outcome.failures.append(f"Check {SCHEMA_STABILITY} failed: {chr(10).join(outcome.stability.problems)}")
    legacy = {major: _shape_deprecated(con, product, audited, major, old) for major, old in legacy_majors.items()}
    for major, (old, table, enforced_old) in legacy.items():
        if not enforced_old.passed:
            outcome.failures.append(
                f"The v{major} shape of the batch does not match the v{major} contract ({enforced_old.failures[:3]}); "
                f"fix compatibility[{major}] in the declaration."
            )
    if outcome.published:
        started = time.perf_counter()
        pub = port.publish(con, audited, product, ctx.run_id) if where is None else \
            port.replace(con, audited, where, product, ctx.run_id)
        failpoints.reached("port.committed")
        masked_version = publish_masked(con, product, port, audited, where if pub.changed else None, ctx)
        outcome.metadata.update(result.accounting(withheld_after_audit=without_consent))
        outcome.metadata.update(
            {
                "publish_seconds": round(time.perf_counter() - started, 3),
                "dagster/row_count": pub.rows,
                "rows_published": pub.rows,
                "delta_version": pub.delta_version,
                "content_changed": pub.changed,
                **({"rows_inserted": pub.inserted, "rows_deleted": pub.deleted} if pub.inserted is not None else {}),
                "fingerprint": pub.fingerprint,
                "output_port": MetadataValue.path(str(pub.path)),
                **({"masked_delta_version": masked_version} if masked_version is not None else {}),
                "product_version": product.version,
            }
        )
        for major, (old, table, _) in legacy.items():
            older = OutputPort.of(ctx.paths, old, major)
            served = older.publish(con, table, old, ctx.run_id)
            publish_masked(con, old, older, table, None, ctx)
            outcome.metadata[f"v{major}_delta_version"] = served.delta_version
            outcome.metadata[f"v{major}_output_port"] = MetadataValue.path(str(served.path))
    outcome.availability = availability.measure_product(
        ctx.instance, AssetKey(product.key_path), product.sla.availability, time.time(), outcome.published, _first_commit(port))
    return outcome


def publish_masked(con: duckdb.DuckDBPyConnection, product: DataProduct, port: OutputPort, audited: str | None,
                   where: str | None, ctx: PublishContext) -> int | None:
    """Bring the port's masked twin to the port's current version, right after the port's
    commit: the recomputed keys' rows replaced when the twin was in step with the port's
    version before, the whole port masked otherwise (first publish, a new masking key, a
    twin behind after a crash). Returns the twin's version; None for a product with no PII."""
    masking = access.Masking(access.pii_columns(product.id, product.major, ctx.paths), secrets.masking_key(ctx.paths))
    if not masking.columns:
        return None
    # The port's two versions that last changed its rows (a vacuum between them changes none).
    version, before, *_ = [c["version"] for c in port.data_commits(2)] + [None, None]
    twin = port.masked()
    held = twin.last_commit() if twin.exists() else {}
    stamp = {PORT_VERSION: str(version), MASKING: masking.name}
    if held.get(MASKING) == masking.name and held.get(PORT_VERSION) == str(version):
        return twin.version()
    if twin.exists() and held.get(MASKING) != masking.name:
        # Another key or other PII columns: the twin is made anew, so none of its versions
        # (which readers may ask for) holds values masked the old way, or not masked at all.
        twin.remove()
        held = {}
    columns = [c.name for c in product.columns]
    masked = scratch_table(con, f"{product.name}__masked")
    if audited and where is not None and held.get(MASKING) == masking.name and held.get(PORT_VERSION) == str(before):
        con.execute(f"CREATE OR REPLACE TABLE {masked} AS SELECT {masking.select(columns)} FROM {audited}")
        twin.replace(con, masked, where, product, ctx.run_id, extra=stamp)
    else:
        con.register("_mesh_port", port.dataset())
        try:
            con.execute(f"CREATE OR REPLACE TABLE {masked} AS SELECT {masking.select(columns)} FROM _mesh_port")
        finally:
            con.unregister("_mesh_port")
        twin.publish(con, masked, product, ctx.run_id, extra=stamp)
    con.execute(f"DROP TABLE {masked}")
    return twin.version()


def measure_served(con: duckdb.DuckDBPyConnection, product: DataProduct, ctx: PublishContext) -> Served:
    """The SLAs of a product whose inputs did not change, so its port stays as it is. Its
    masked twin is still brought in step: under a new masking key, or after a build that
    stopped between the port's commit and the twin's."""
    now = datetime.now(timezone.utc)
    port = OutputPort.of(ctx.paths, product)
    publish_masked(con, product, port, None, None, ctx)
    for major, snapshot in versions.served_majors(product, now.date()).items():
        old = versions.product_from_contract(product, snapshot)
        publish_masked(con, old, OutputPort.of(ctx.paths, old, major), None, None, ctx)
    con.register("_mesh_served", port.dataset())
    try:
        fresh = freshness.unchanged(con, "_mesh_served", product.event_time, now, product.sla.freshness_minutes)
    finally:
        con.unregister("_mesh_served")
    return Served(
        product, versions.check(product, now.date()), ctx.pinned_warnings, fresh,
        docs_currency.measure_sources(ctx.doc_sources, product.sla.docs_max_age_days),
        availability.measure_product(ctx.instance, AssetKey(product.key_path), product.sla.availability, time.time(), True,
                                     _first_commit(port)),
    )


def _freshness(con, product: DataProduct, audited: str, port: OutputPort, now: datetime,
               where: str | None = None) -> freshness.Freshness:
    """The latency of the rows the batch changes. A batch of recomputed keys is compared
    with the served rows `where` selects only (a filter the port's scan skips files by),
    not with the whole port: every row of those keys satisfies it."""
    previous = None
    if port.exists():
        con.register("_mesh_previous", port.dataset())
        previous = "_mesh_previous" if where is None else f"(SELECT * FROM _mesh_previous WHERE {where})"
    try:
        return freshness.measure(con, audited, product.event_time, previous, now, product.sla.freshness_minutes)
    finally:
        if previous:
            con.unregister("_mesh_previous")


def _first_commit(port: OutputPort) -> float | None:
    if not port.exists():
        return None
    history = port.table().history()
    return min(h["timestamp"] for h in history) / 1000 if history else None


def _shape_deprecated(con, product: DataProduct, audited: str, major: int, snapshot: dict):
    """Shape this batch into an older major's contract and enforce that contract on it."""
    old = versions.product_from_contract(product, snapshot)
    table = scratch_table(con, f"{product.name}__v{major}")
    shape = product.compatibility.get(major) or "SELECT {columns} FROM {batch}".replace(
        "{columns}", ", ".join(q(c.name) for c in old.columns)
    )
    con.execute(f"CREATE OR REPLACE TABLE {table} AS {shape.replace('{batch}', audited)}")
    return old, table, contract.enforce(con, old, table)
