"""The five SLA checks of a product, as Dagster asset checks with numeric metadata."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, FreshnessPolicy

from platform_lib.sla import availability, contracts, docs_currency
from platform_lib.sla.docs_currency import Span
from platform_lib.sla.freshness import Freshness
from platform_lib.spec import DataProduct

FRESHNESS = "freshness"
AVAILABILITY = "availability"
SCHEMA_STABILITY = "schema_stability"
QUALITY_SCORE = "quality_score"
DOCUMENTATION = "documentation_currency"
BLOCKING = ("quality_score", "schema_contract")

DESCRIPTIONS = {
    FRESHNESS: "p99 of publish time minus event time for the batch's new records, against the SLA target.",
    AVAILABILITY: "Share of the trailing 30 days the port served a version that passed its blocking checks.",
    SCHEMA_STABILITY: "The contract matches its snapshot, or breaking changes carry a major bump and 30-day notice; inputs are not pinned to deprecated versions.",
    DOCUMENTATION: "The product's code did not change more than the allowed days after its documentation (git history).",
}


def sla_check_specs(key: AssetKey) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(FRESHNESS, asset=key, description=DESCRIPTIONS[FRESHNESS]),
        AssetCheckSpec(AVAILABILITY, asset=key, description=DESCRIPTIONS[AVAILABILITY]),
        AssetCheckSpec(SCHEMA_STABILITY, asset=key, blocking=True, description=DESCRIPTIONS[SCHEMA_STABILITY]),
        AssetCheckSpec(DOCUMENTATION, asset=key, description=DESCRIPTIONS[DOCUMENTATION]),
    ]


def freshness_policy(product: DataProduct) -> FreshnessPolicy:
    """Shown by the UI between runs: to keep events under the target, the product must
    be republished at least that often."""
    target = timedelta(minutes=product.sla.freshness_minutes)
    return FreshnessPolicy.time_window(fail_window=target, warn_window=target / 2)


@dataclass(frozen=True)
class DocSources:
    """Where a product's code and its documentation live, for documentation currency."""

    code: tuple[Span, ...]
    docs: tuple[Span, ...]


def freshness_result(key: AssetKey, measured: Freshness) -> AssetCheckResult:
    return AssetCheckResult(
        asset_key=key, check_name=FRESHNESS, passed=measured.passed, severity=AssetCheckSeverity.WARN,
        metadata=measured.metadata(),
    )


def stability_result(key: AssetKey, product: DataProduct, today: date, pinned_warnings: list[str]) -> AssetCheckResult:
    verdict = contracts.check(product, today)
    meta: dict = {"contract_version": product.version}
    for major, sunset in product.deprecations.items():
        meta[f"v{major}_days_to_sunset"] = (sunset - today).days
    if verdict.problems:
        meta["problems"] = "\n".join(verdict.problems)
    if verdict.notes:
        meta["notes"] = "\n".join(verdict.notes)
    if pinned_warnings:
        meta["deprecated_inputs"] = "\n".join(pinned_warnings)
    return AssetCheckResult(
        asset_key=key, check_name=SCHEMA_STABILITY,
        passed=verdict.ok and not pinned_warnings,
        severity=AssetCheckSeverity.ERROR if not verdict.ok else AssetCheckSeverity.WARN,
        metadata=meta,
    )


def availability_result(key: AssetKey, product: DataProduct, instance, now: float, published_now: bool,
                        first_commit: float | None) -> AssetCheckResult:
    history = availability.blocking_history(instance, key, list(BLOCKING), since=now - availability.WINDOW_DAYS * 86400)
    published = availability.publications(instance, key) + ([now] if published_now else [])
    history = history + [(now, published_now)]
    measured = availability.measure(now, published, history, first_commit, product.sla.availability)
    return AssetCheckResult(
        asset_key=key, check_name=AVAILABILITY, passed=measured.passed, severity=AssetCheckSeverity.WARN,
        metadata=measured.metadata(),
    )


def documentation_result(key: AssetKey, product: DataProduct, sources: DocSources | None) -> AssetCheckResult:
    if sources is None:
        measured = docs_currency.DocsCurrency("unknown", None, None, product.sla.docs_max_age_days, "no source files known")
    else:
        measured = docs_currency.measure(list(sources.code), list(sources.docs), product.sla.docs_max_age_days)
    return AssetCheckResult(
        asset_key=key, check_name=DOCUMENTATION, passed=measured.passed, severity=AssetCheckSeverity.WARN,
        metadata=measured.metadata(),
    )
