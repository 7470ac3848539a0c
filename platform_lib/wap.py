"""Write, audit, publish: the one path every product's batch takes to its output port.

The build has left a candidate batch in the domain's DuckDB. The audit quarantines
failing rows and enforces the Pandera contract on the rest; only when every blocking
check passes is the batch committed to the Delta output port, together with the older
major versions still inside their deprecation notice. Otherwise the previous port
version keeps serving and the run fails with the product, rule and fix named. The SLA
checks are measured on the way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import duckdb
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, DagsterInstance, MetadataValue

from platform_lib import contract, failpoints
from platform_lib.privacy import consent
from platform_lib.audit import AuditResult, audit, q
from platform_lib.metadata import audit_metadata, row_accounting, violation_metadata
from platform_lib.ports import OutputPort
from platform_lib.settings import MeshPaths
from platform_lib.sla import checks as sla
from platform_lib.sla import contracts, freshness
from platform_lib.spec import Column, DataProduct

AUDIT_RULES = "audit_rules"
QUALITY_SCORE = sla.QUALITY_SCORE
SCHEMA_CONTRACT = "schema_contract"


def audit_check_specs(key: AssetKey, blocking: bool = True) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(AUDIT_RULES, asset=key, description="Row rules from the declaration; failing rows are quarantined with their reason."),
        AssetCheckSpec(QUALITY_SCORE, asset=key, blocking=blocking, description="Share of valid, complete records in the batch against the SLA target."),
        AssetCheckSpec(SCHEMA_CONTRACT, asset=key, blocking=blocking, description="The batch conforms to the product's Pandera schema (types, nullability, accepted values, no extra columns)."),
    ]


def product_check_specs(key: AssetKey) -> list[AssetCheckSpec]:
    return [*audit_check_specs(key), *sla.sla_check_specs(key)]


def rule_checks(key: AssetKey, result: AuditResult, quality_min: float) -> list[AssetCheckResult]:
    score_ok = result.quality_score >= quality_min
    return [
        AssetCheckResult(
            asset_key=key,
            check_name=AUDIT_RULES,
            passed=not result.violations,
            severity=AssetCheckSeverity.WARN,
            metadata={**audit_metadata(result), **violation_metadata(result)},
        ),
        AssetCheckResult(
            asset_key=key,
            check_name=QUALITY_SCORE,
            passed=score_ok,
            severity=AssetCheckSeverity.ERROR,
            metadata={"quality_score": float(round(result.quality_score, 6)), "target": float(quality_min)},
        ),
    ]


@dataclass
class Outcome:
    product: DataProduct
    checks: list[AssetCheckResult]
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


@dataclass(frozen=True)
class PublishContext:
    """What a publish needs besides the batch: where, who, and the history to measure."""

    paths: MeshPaths
    run_id: str
    instance: DagsterInstance
    doc_sources: sla.DocSources | None = None
    pinned_warnings: tuple[str, ...] = ()


def scratch_table(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """Where an audited batch waits for its publish: an in-memory database attached to the
    run's connection. The batch is needed only until it is committed to the port, so it
    is never written to the domain's DuckDB file (for a large batch, most of the cost)."""
    con.execute("ATTACH IF NOT EXISTS ':memory:' AS scratch")
    con.execute("CREATE SCHEMA IF NOT EXISTS scratch.audited")
    return f"scratch.audited.{name}"


def audit_and_publish(con: duckdb.DuckDBPyConnection, product: DataProduct, candidate: str, ctx: PublishContext) -> Outcome:
    key = AssetKey(product.key_path)
    now = datetime.now(timezone.utc)
    audited = scratch_table(con, product.name)
    started = time.perf_counter()
    result = audit(con, product, candidate, audited, ctx.run_id, writable=product.consent_flag is not None)
    failpoints.reached("audit.write")
    # Quality is judged on the whole batch; consent then narrows what may be published.
    without_consent = consent.apply(con, product, audited)
    checks = rule_checks(key, result, product.sla.quality_min)
    enforced = contract.enforce(con, product, audited)
    audit_seconds = time.perf_counter() - started
    checks.append(
        AssetCheckResult(
            asset_key=key,
            check_name=SCHEMA_CONTRACT,
            passed=enforced.passed,
            severity=AssetCheckSeverity.ERROR,
            metadata={"failure_cases": MetadataValue.json(enforced.failures)} if enforced.failures else {},
        )
    )
    stability = sla.stability_result(key, product, now.date(), list(ctx.pinned_warnings))
    checks.append(stability)
    port = OutputPort.of(ctx.paths, product)
    checks.append(sla.freshness_result(key, _freshness(con, product, audited, port, now)))
    checks.append(sla.documentation_result(key, product, ctx.doc_sources))

    outcome = Outcome(product, checks, audit_metadata(result) | {"audit_seconds": round(audit_seconds, 3)})
    if product.consent_flag:
        outcome.metadata |= {"purpose": product.purpose, "rows_without_consent": without_consent}
    if result.quality_score < product.sla.quality_min:
        worst = max(result.violations.items(), key=lambda kv: kv[1], default=("", 0))
        outcome.failures.append(
            f"Check {QUALITY_SCORE} failed: {result.quality_score:.2%} of {result.rows_in} rows are valid, "
            f"below the {product.sla.quality_min:.0%} target (most failures: {worst[0]}, {worst[1]} rows). "
            "Fix the upstream data or the build, then re-run."
        )
    if not enforced.passed:
        outcome.failures.append(
            f"Check {SCHEMA_CONTRACT} failed: the batch does not match the declared schema "
            f"({enforced.failures[:3]}). Fix the build so it returns the declared columns and types."
        )
    if stability.severity == AssetCheckSeverity.ERROR and not stability.passed:
        outcome.failures.append(f"Check {sla.SCHEMA_STABILITY} failed: {stability.metadata['problems'].value}")
    legacy = {major: _shape_deprecated(con, product, audited, major, old) for major, old in contracts.served_majors(product, now.date()).items()}
    for major, (old, table, enforced_old) in legacy.items():
        if not enforced_old.passed:
            outcome.failures.append(
                f"The v{major} shape of the batch does not match the v{major} contract ({enforced_old.failures[:3]}); "
                f"fix compatibility[{major}] in the declaration."
            )
    if outcome.published:
        started = time.perf_counter()
        pub = port.publish(con, audited, product, ctx.run_id)
        outcome.metadata.update(row_accounting(result, withheld_after_audit=without_consent))
        outcome.metadata.update(
            {
                "publish_seconds": round(time.perf_counter() - started, 3),
                "dagster/row_count": pub.rows,
                "rows_published": pub.rows,
                "delta_version": pub.delta_version,
                "content_changed": pub.changed,
                "fingerprint": pub.fingerprint,
                "output_port": MetadataValue.path(str(pub.path)),
                "product_version": product.version,
            }
        )
        for major, (old, table, _) in legacy.items():
            served = OutputPort.of(ctx.paths, old, major).publish(con, table, old, ctx.run_id)
            outcome.metadata[f"v{major}_delta_version"] = served.delta_version
            outcome.metadata[f"v{major}_output_port"] = MetadataValue.path(str(served.path))
    checks.append(
        sla.availability_result(key, product, ctx.instance, time.time(), outcome.published, _first_commit(port))
    )
    return outcome


def _freshness(con, product: DataProduct, audited: str, port: OutputPort, now: datetime) -> freshness.Freshness:
    previous = None
    if port.exists():
        con.register("_mesh_previous", port.dataset())
        previous = "_mesh_previous"
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


def product_from_contract(product: DataProduct, snapshot: dict) -> DataProduct:
    """The declaration of an older major version, rebuilt from its contract snapshot."""
    columns = tuple(
        Column(name=c["name"], type=c["type"], nullable=not c["required"], classification=c.get("classification", "internal"),
               accepted_values=tuple(c["accepted_values"]) if c["accepted_values"] else None,
               description=next((x.description for x in product.columns if x.name == c["name"]), ""))
        for c in snapshot["columns"]
    )
    return product.model_copy(update={"version": snapshot["version"], "columns": columns,
                                      "primary_key": tuple(snapshot["primary_key"]), "deprecations": {}, "compatibility": {}})


def _shape_deprecated(con, product: DataProduct, audited: str, major: int, snapshot: dict):
    """Shape this batch into an older major's contract and enforce that contract on it."""
    old = product_from_contract(product, snapshot)
    table = scratch_table(con, f"{product.name}__v{major}")
    shape = product.compatibility.get(major) or "SELECT {columns} FROM {batch}".replace(
        "{columns}", ", ".join(q(c.name) for c in old.columns)
    )
    con.execute(f"CREATE OR REPLACE TABLE {table} AS {shape.replace('{batch}', audited)}")
    return old, table, contract.enforce(con, old, table)
