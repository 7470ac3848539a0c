"""Freshness: how long after an event happened it was published.

Measured at publish over the batch's new or changed rows (compared with the version the
port served before), so late and out-of-order events count with their real age. When a
batch changes nothing, the newest record's age is reported: the product is that stale."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from platform_lib.storage.sql import q


@dataclass(frozen=True)
class Freshness:
    new_records: int
    p50_minutes: float
    p95_minutes: float
    p99_minutes: float
    target_minutes: float

    @property
    def passed(self) -> bool:
        return self.p99_minutes <= self.target_minutes

    def metadata(self) -> dict:
        return {
            "p50_latency_minutes": round(self.p50_minutes, 3),
            "p95_latency_minutes": round(self.p95_minutes, 3),
            "p99_latency_minutes": round(self.p99_minutes, 3),
            "target_minutes": float(self.target_minutes),
            "new_records": self.new_records,
        }


def measure(
    con: duckdb.DuckDBPyConnection, table: str, event_time: str, previous: str | None, published_at: datetime, target: float
) -> Freshness:
    """Latency percentiles of `table`'s rows not in `previous` (a relation of the prior version)."""
    col = q(event_time)
    at = f"TIMESTAMPTZ '{published_at.isoformat()}'"
    changed = f"SELECT * FROM {table}" + (f" EXCEPT SELECT * FROM {previous}" if previous else "")
    latency = f"date_diff('millisecond', {col}, {at}) / 60000.0"
    n, p50, p95, p99 = con.execute(
        f"SELECT count({col}), quantile_cont({latency}, 0.5), quantile_cont({latency}, 0.95), "
        f"quantile_cont({latency}, 0.99) FROM ({changed})"
    ).fetchall()[0]
    if not n:
        return unchanged(con, table, event_time, published_at, target)
    return Freshness(int(n), float(p50), float(p95), float(p99), target)


def unchanged(con: duckdb.DuckDBPyConnection, table: str, event_time: str, at: datetime, target: float) -> Freshness:
    """Nothing new is served: the age of the newest record at `at`."""
    col = q(event_time)
    latency = f"date_diff('millisecond', {col}, TIMESTAMPTZ '{at.isoformat()}') / 60000.0"
    (stale,) = con.execute(f"SELECT max({latency}) FROM (SELECT max({col}) AS {col} FROM {table})").fetchall()[0]
    return Freshness(0, float(stale or 0.0), float(stale or 0.0), float(stale or 0.0), target)
