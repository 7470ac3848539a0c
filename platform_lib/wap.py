"""Write, audit, publish: the one path every product's batch takes to its output port.

The build has left a candidate batch in the domain's DuckDB. The audit quarantines
failing rows and enforces the Pandera contract on the rest; only when every blocking
check passes is the batch committed to the Delta output port. Otherwise the previous
port version keeps serving and the run fails with the product, rule and fix named.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, MetadataValue

from platform_lib import contract
from platform_lib.audit import AuditResult, audit
from platform_lib.metadata import audit_metadata, violation_metadata
from platform_lib.ports import OutputPort
from platform_lib.settings import MeshPaths
from platform_lib.spec import DataProduct

AUDIT_RULES = "audit_rules"
QUALITY_SCORE = "quality_score"
SCHEMA_CONTRACT = "schema_contract"


def audit_check_specs(key: AssetKey, blocking: bool = True) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(AUDIT_RULES, asset=key, description="Row rules from the declaration; failing rows are quarantined with their reason."),
        AssetCheckSpec(QUALITY_SCORE, asset=key, blocking=blocking, description="Share of valid, complete records in the batch against the SLA target."),
        AssetCheckSpec(SCHEMA_CONTRACT, asset=key, blocking=blocking, description="The batch conforms to the product's Pandera schema (types, nullability, accepted values, no extra columns)."),
    ]


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


def audit_and_publish(
    con: duckdb.DuckDBPyConnection, product: DataProduct, candidate: str, paths: MeshPaths, run_id: str
) -> Outcome:
    key = AssetKey(product.key_path)
    audited = f"audited.{product.name}"
    result = audit(con, product, candidate, audited, run_id)
    checks = rule_checks(key, result, product.sla.quality_min)
    enforced = contract.enforce(con, product, audited)
    checks.append(
        AssetCheckResult(
            asset_key=key,
            check_name=SCHEMA_CONTRACT,
            passed=enforced.passed,
            severity=AssetCheckSeverity.ERROR,
            metadata={"failure_cases": MetadataValue.json(enforced.failures)} if enforced.failures else {},
        )
    )
    outcome = Outcome(product, checks, audit_metadata(result))
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
    if outcome.published:
        pub = OutputPort.of(paths, product).publish(con, audited, product, run_id)
        outcome.metadata.update(
            {
                "dagster/row_count": pub.rows,
                "rows_published": pub.rows,
                "delta_version": pub.delta_version,
                "content_changed": pub.changed,
                "fingerprint": pub.fingerprint,
                "output_port": MetadataValue.path(str(pub.path)),
                "product_version": product.version,
            }
        )
    return outcome
