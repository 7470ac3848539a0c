"""The quarantine: every record a domain could not stage or publish, kept whole in its own
DuckDB file with the rule it broke and why, so nothing is lost and every row is counted."""

from __future__ import annotations

import duckdb

from platform_lib.storage.sql import lit


def ensure_quarantine(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS quarantine")
    con.execute(
        """CREATE TABLE IF NOT EXISTS quarantine.records (
            object VARCHAR NOT NULL, rule VARCHAR NOT NULL, reason VARCHAR NOT NULL,
            run_id VARCHAR, source_file VARCHAR, record JSON NOT NULL,
            record_hash VARCHAR NOT NULL, quarantined_at TIMESTAMPTZ NOT NULL)"""
    )


def quarantine_insert(con: duckdb.DuckDBPyConnection, object_id: str, rule: str, reason: str, run_id: str,
                      source_file: str, record: str, relation: str) -> None:
    """Keep each row of `relation` in quarantine as `record` (SQL) with its `reason` (SQL);
    a record already kept under the same rule is not kept twice."""
    con.execute(
        f"""INSERT INTO quarantine.records
        SELECT {lit(object_id)}, {lit(rule)}, reason, {lit(run_id)}, {source_file}, rec, md5(CAST(rec AS VARCHAR)), now()
        FROM (SELECT {reason} AS reason, {record} AS rec FROM {relation}) v
        WHERE NOT EXISTS (SELECT 1 FROM quarantine.records qr WHERE qr.object = {lit(object_id)}
                          AND qr.rule = {lit(rule)} AND qr.record_hash = md5(CAST(v.rec AS VARCHAR)))"""
    )
