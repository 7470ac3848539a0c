"""Availability: the share of the trailing window during which the product's port served
a version that passed its blocking checks, and no newer batch was failing them.

Computed from the Dagster instance's history (published materializations and blocking
check evaluations) and the Delta log (when the port really had a version)."""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetCheckKey, AssetKey, DagsterInstance
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from platform_lib.declare.checks import BLOCKING

WINDOW_DAYS = 30


@dataclass(frozen=True)
class Availability:
    fraction: float
    target: float
    window_days: int

    @property
    def passed(self) -> bool:
        return self.fraction >= self.target

    def metadata(self) -> dict:
        return {
            "availability": round(self.fraction, 6),
            "target": float(self.target),
            "window_days": self.window_days,
        }


def blocking_history(instance: DagsterInstance, key: AssetKey, checks: list[str], since: float) -> list[tuple[float, bool]]:
    """(time, passed) of every blocking check evaluation since `since`, oldest first."""
    events = []
    for name in checks:
        records = instance.event_log_storage.get_asset_check_execution_history(AssetCheckKey(key, name), limit=10_000)
        for r in records:
            if r.status == AssetCheckExecutionRecordStatus.PLANNED or r.event is None:
                continue
            events.append((r.event.timestamp, r.status == AssetCheckExecutionRecordStatus.SUCCEEDED))
    return sorted(e for e in events if e[0] >= since - WINDOW_DAYS * 86400)


def publications(instance: DagsterInstance, key: AssetKey) -> list[float]:
    result = instance.fetch_materializations(key, limit=10_000)
    return sorted(r.timestamp for r in result.records)


def measure(
    now: float,
    published: list[float],
    evaluations: list[tuple[float, bool]],
    port_first_commit: float | None,
    target: float,
    window_days: int = WINDOW_DAYS,
) -> Availability:
    """Walk the window (the trailing 30 days, or since the product was first published if
    that is later): available while a checked version is served and the latest blocking
    evaluation passed. A port with no Delta version now serves nothing."""
    if not published or port_first_commit is None:
        return Availability(0.0, target, window_days)
    start = max(now - window_days * 86400, min(published[0], now))
    if now <= start:
        return Availability(1.0, target, window_days)
    changes = sorted([(t, ok) for t, ok in evaluations] + [(t, True) for t in published])
    up, healthy, cursor = 0.0, False, start
    for t, ok in [*changes, (now, None)]:
        t = min(max(t, start), now)
        if healthy and t > cursor:
            up += t - cursor
        cursor = max(cursor, t)
        if ok is not None:
            healthy = ok
    return Availability(min(1.0, up / (now - start)), target, window_days)


def measure_product(instance: DagsterInstance, key: AssetKey, target: float, now: float, published_now: bool,
                    first_commit: float | None) -> Availability:
    """A product's availability including the publish that is happening `now`."""
    history = blocking_history(instance, key, list(BLOCKING), since=now - WINDOW_DAYS * 86400)
    published = publications(instance, key) + ([now] if published_now else [])
    return measure(now, published, [*history, (now, published_now)], first_commit, target)
