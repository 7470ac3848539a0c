"""Every asset check of a product or source, as Dagster sees it: the specs declared on the
asset and the results a publish outcome turns into (names and meanings live in
`declare/checks.py`)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, FreshnessPolicy, MetadataValue

from platform_lib.declare.checks import (
    AUDIT_RULES,
    AVAILABILITY,
    BLOCKING,
    DESCRIPTIONS,
    DOCUMENTATION,
    FRESHNESS,
    QUALITY_SCORE,
    SCHEMA_CONTRACT,
    SCHEMA_STABILITY,
)
from platform_lib.declare.spec import DataProduct
from platform_lib.lifecycle.audit import AuditResult
from platform_lib.lifecycle.publish import Outcome, Served

# The audit's checks on a staged source, then a product's SLA checks beside them.
AUDIT_CHECKS = (AUDIT_RULES, QUALITY_SCORE, SCHEMA_CONTRACT)
PRODUCT_CHECKS = (*AUDIT_CHECKS, FRESHNESS, AVAILABILITY, SCHEMA_STABILITY, DOCUMENTATION)


def _spec(key: AssetKey, name: str, blocking: bool) -> AssetCheckSpec:
    return AssetCheckSpec(name, asset=key, blocking=blocking, description=DESCRIPTIONS[name])


def source_check_specs(key: AssetKey) -> list[AssetCheckSpec]:
    """Staging is internal: bad rows are quarantined and the rest staged; nothing blocks."""
    return [_spec(key, name, blocking=False) for name in (AUDIT_RULES, QUALITY_SCORE)]


def product_check_specs(key: AssetKey) -> list[AssetCheckSpec]:
    return [_spec(key, name, blocking=name in BLOCKING or name == SCHEMA_STABILITY) for name in PRODUCT_CHECKS]


def freshness_policy(product: DataProduct) -> FreshnessPolicy:
    """The freshness SLA between runs, as the UI shows it: events can be served within the
    target only if the product is republished at least that often, so the policy fails once
    the last publish is older than the target. It cannot see how old the published events
    were (Dagster's policy looks at the publish time alone): that is the `freshness` check's
    measure, so right after a run of old events the policy passes and the check fails, and
    the check's description says so. No warning window: a policy warning minutes after a
    run would say nothing the SLA promises."""
    return FreshnessPolicy.time_window(fail_window=timedelta(minutes=product.sla.freshness_minutes))


def violation_metadata(result: AuditResult) -> dict:
    meta: dict = {f"violations/{rule}": n for rule, n in sorted(result.violations.items())}
    if result.samples:
        meta["sample_failures"] = MetadataValue.json(
            {rule: [json.loads(s) for s in rows] for rule, rows in sorted(result.samples.items())}
        )
    return meta


def rule_checks(key: AssetKey, result: AuditResult, quality_min: float) -> list[AssetCheckResult]:
    return [
        AssetCheckResult(
            asset_key=key, check_name=AUDIT_RULES, passed=not result.violations, severity=AssetCheckSeverity.WARN,
            metadata={**result.counts(), **violation_metadata(result)},
        ),
        AssetCheckResult(
            asset_key=key, check_name=QUALITY_SCORE, passed=result.quality_score >= quality_min,
            severity=AssetCheckSeverity.ERROR,
            metadata={"quality_score": float(round(result.quality_score, 6)), "target": float(quality_min)},
        ),
    ]


def _stability(key: AssetKey, outcome: Outcome | Served, today: date) -> AssetCheckResult:
    product, verdict, pinned = outcome.product, outcome.stability, outcome.pinned_warnings
    meta: dict = {"contract_version": product.version}
    for major, sunset in product.deprecations.items():
        meta[f"v{major}_days_to_sunset"] = (sunset - today).days
    if verdict.problems:
        meta["problems"] = "\n".join(verdict.problems)
    if verdict.notes:
        meta["notes"] = "\n".join(verdict.notes)
    if pinned:
        meta["deprecated_inputs"] = "\n".join(pinned)
    return AssetCheckResult(
        asset_key=key, check_name=SCHEMA_STABILITY, passed=verdict.ok and not pinned,
        severity=AssetCheckSeverity.ERROR if not verdict.ok else AssetCheckSeverity.WARN, metadata=meta,
    )


def _measured(key: AssetKey, name: str, measured) -> AssetCheckResult:
    return AssetCheckResult(asset_key=key, check_name=name, passed=measured.passed,
                            severity=AssetCheckSeverity.WARN, metadata=measured.metadata())


def outcome_checks(outcome: Outcome) -> list[AssetCheckResult]:
    """Every check result of one publish, in the order the asset declares them."""
    key = AssetKey(outcome.product.key_path)
    enforced = outcome.contract
    return [
        *rule_checks(key, outcome.audit, outcome.product.sla.quality_min),
        AssetCheckResult(
            asset_key=key, check_name=SCHEMA_CONTRACT, passed=enforced.passed, severity=AssetCheckSeverity.ERROR,
            metadata={"failure_cases": MetadataValue.json(enforced.failures)} if enforced.failures else {},
        ),
        *sla_checks(outcome),
    ]


def sla_checks(measured: Outcome | Served) -> list[AssetCheckResult]:
    """The SLAs measured at a publish, or of a version still served: they change with time."""
    key = AssetKey(measured.product.key_path)
    checks = [
        _stability(key, measured, datetime.now(timezone.utc).date()),
        _measured(key, FRESHNESS, measured.freshness),
        _measured(key, DOCUMENTATION, measured.documentation),
    ]
    if measured.availability is not None:
        checks.append(_measured(key, AVAILABILITY, measured.availability))
    return checks


# Measured again by every build; the others judge content, and stand while it does.
TIMED_CHECKS = (SCHEMA_STABILITY, FRESHNESS, DOCUMENTATION, AVAILABILITY)


def recorded(results) -> list[dict]:
    """Content check results as a build keeps them: what they found, with their plain metadata."""
    kept = []
    for r in (r for r in results if r.check_name not in TIMED_CHECKS):
        meta = {k: getattr(v, "value", v) for k, v in (r.metadata or {}).items()}
        kept.append({"name": r.check_name, "passed": r.passed, "severity": r.severity.value,
                     "metadata": {k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool))}})
    return kept


def replayed(key: AssetKey, kept: list[dict], run_id: str) -> list[AssetCheckResult]:
    """The checks of the content still served, as its last build evaluated them."""
    return [AssetCheckResult(asset_key=key, check_name=c["name"], passed=c["passed"],
                             severity=AssetCheckSeverity(c["severity"]),
                             metadata={**c["metadata"], "evaluated_by_run": run_id, "inputs_unchanged": True})
            for c in kept]
