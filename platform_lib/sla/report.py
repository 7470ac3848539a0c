"""`mesh sla report`: per product, each SLA's target, current value and attainment over
the trailing 30 days, read from the Dagster instance's check history; plus a roll-up per
domain (the data-product OKRs)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from dagster import AssetCheckKey, AssetKey, DagsterInstance
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from platform_lib.declare.checks import AVAILABILITY, DOCUMENTATION, FRESHNESS, QUALITY_SCORE, SCHEMA_STABILITY
from platform_lib.declare.spec import DataProduct

WINDOW = 30 * 86400
# SLA check -> (metadata key holding the measured value, how the target reads)
MEASURES = {
    FRESHNESS: ("p99_latency_minutes", lambda p: f"p99 < {p.sla.freshness_minutes:g} min"),
    AVAILABILITY: ("availability", lambda p: f">= {p.sla.availability:.1%}"),
    SCHEMA_STABILITY: ("contract_version", lambda p: f"{p.sla.breaking_change_notice_days}-day notice"),
    QUALITY_SCORE: ("quality_score", lambda p: f">= {p.sla.quality_min:.0%} valid"),
    DOCUMENTATION: ("docs_lag_days", lambda p: f"docs < {p.sla.docs_max_age_days} days behind code"),
}


@dataclass
class SlaLine:
    domain: str
    product: str
    sla: str
    target: str
    current: str
    passing: bool | None
    attainment: float | None
    evaluations: int


def _evaluations(instance: DagsterInstance, product: DataProduct, check: str, limit: int = 5_000) -> list:
    """The check's finished evaluations of `product` (newest first), planned ones left out."""
    records = instance.event_log_storage.get_asset_check_execution_history(
        AssetCheckKey(AssetKey(product.key_path), check), limit=limit
    )
    return [r for r in records if r.status != AssetCheckExecutionRecordStatus.PLANNED and r.event is not None]


def product_lines(instance: DagsterInstance, product: DataProduct, now: float | None = None) -> list[SlaLine]:
    now = now or time.time()
    lines = []
    for check, (value_key, target) in MEASURES.items():
        done = _evaluations(instance, product, check)
        recent = [r for r in done if r.event.timestamp >= now - WINDOW]
        current, passing = "no data", None
        if done:
            latest = max(done, key=lambda r: r.event.timestamp)
            evaluation = latest.event.dagster_event.event_specific_data
            value = evaluation.metadata.get(value_key) or evaluation.metadata.get("status")
            current = "n/a" if value is None else _show(check, getattr(value, "value", value))
            passing = evaluation.passed
        attainment = (
            sum(r.status == AssetCheckExecutionRecordStatus.SUCCEEDED for r in recent) / len(recent) if recent else None
        )
        lines.append(SlaLine(product.domain, product.name, check, target(product), current, passing, attainment, len(recent)))
    return lines


def history(instance: DagsterInstance, product: DataProduct, limit: int = 200) -> dict[str, list[dict]]:
    """Each SLA's last `limit` evaluations, oldest first: when (epoch seconds), the measured
    value when it is a number (else None), and whether it passed; for plotting."""
    out = {}
    for check, (value_key, _) in MEASURES.items():
        points = []
        for record in reversed(_evaluations(instance, product, check, limit)):
            evaluation = record.event.dagster_event.event_specific_data
            value = getattr(evaluation.metadata.get(value_key), "value", None)
            number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            points.append({"at": record.event.timestamp, "value": number, "passed": evaluation.passed})
        out[check] = points
    return out


def rollup(lines: list[SlaLine]) -> list[dict]:
    """Per domain: products, products meeting every SLA now, and mean attainment per SLA."""
    out = []
    for domain in sorted({line.domain for line in lines}):
        mine = [line for line in lines if line.domain == domain]
        products = sorted({line.product for line in mine})
        meeting = [p for p in products if all(line.passing for line in mine if line.product == p)]
        per_sla = {}
        for check in MEASURES:
            values = [line.attainment for line in mine if line.sla == check and line.attainment is not None]
            per_sla[check] = round(sum(values) / len(values), 4) if values else None
        out.append({"domain": domain, "products": len(products), "meeting_all_slas": len(meeting), "attainment": per_sla})
    return out


def as_json(lines: list[SlaLine]) -> dict:
    return {"products": [asdict(line) for line in lines], "domains": rollup(lines)}


def _show(check: str, value) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return str(value)
    if check in (AVAILABILITY, QUALITY_SCORE):
        return f"{value:.2%}"
    unit = {FRESHNESS: " min", DOCUMENTATION: " days"}.get(check, "")
    return f"{value:,.1f}{unit}"
