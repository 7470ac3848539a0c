"""Audit a candidate batch inside DuckDB: row rules, quarantine, typed valid rows.

Every declared column, key and rule compiles to one SQL expression that names the
violation, so a whole batch is audited in a single pass in the engine (no copy into
pandas). Rejected rows keep their original record, the rule and a reason; valid rows
come out cast to the declared types.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from platform_lib.privacy.keys import column_kind
from platform_lib.spec import Column, _Declared
from platform_lib.types import DUCKDB_TYPES

SAMPLE_ROWS = 5
# An event time may run this far ahead of the platform's clock before it counts as in the future.
EVENT_CLOCK_SKEW = "1 DAY"
REDACTED = "<personal: see quarantine.records>"


def q(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class CompiledRule:
    name: str
    bad_when: str  # SQL that is true for a violating row
    reason: str


@dataclass
class AuditResult:
    object: str
    rows_in: int
    rows_valid: int
    exact_duplicates_dropped: int = 0
    violations: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[str]] = field(default_factory=dict)
    drifted_files: dict[str, str] = field(default_factory=dict)

    @property
    def rows_quarantined(self) -> int:
        return self.rows_in - self.exact_duplicates_dropped - self.rows_valid

    @property
    def quality_score(self) -> float:
        audited = self.rows_in - self.exact_duplicates_dropped
        return 1.0 if audited == 0 else self.rows_valid / audited


def compile_rules(decl: _Declared, references: dict[str, str] | None = None) -> list[CompiledRule]:
    """Rules in the order a reader would check them; the first violated one is the
    row's quarantine rule."""
    rules: list[CompiledRule] = []
    pk = set(decl.primary_key)
    for col in decl.columns:
        rules.extend(_column_rules(decl.id, col, required=col.name in pk or not col.nullable))
    for col in decl.columns:
        if col.references:
            table, ref_col = col.references.split(".")
            rules.append(
                CompiledRule(
                    f"known_reference:{col.name}",
                    f"{q(col.name)} IS NOT NULL AND {q(col.name)} NOT IN "
                    f"(SELECT {q(ref_col)} FROM staging.{q(table)})",
                    f"{col.name} refers to a {ref_col} that {decl.domain} does not know "
                    f"(staging.{table}); fix the reference in the source system or land the missing record",
                )
            )
    event_time = next((c for c in decl.columns if c.name == decl.event_time and c.type in ("timestamp", "date")), None)
    if event_time is not None:
        when = f"TRY_CAST({q(event_time.name)} AS TIMESTAMP)"
        rules.append(
            CompiledRule(
                f"plausible_time:{event_time.name}",
                f"{when} < TIMESTAMP '1970-01-01' OR {when} > now()::TIMESTAMP + INTERVAL {EVENT_CLOCK_SKEW}",
                f"{event_time.name} (when the event happened) is before 1970 or in the future; "
                "fix the source system's clock or time zone",
            )
        )
    if decl.primary_key:
        keys = ", ".join(decl.primary_key)
        rules.append(
            CompiledRule(
                f"unique_key:{keys}",
                "_mesh_key_count > 1",
                f"primary key ({keys}) appears more than once with different values in {decl.id}; "
                "fix: the source must send one version per key",
            )
        )
    for rule in decl.rules:
        rules.append(
            CompiledRule(f"rule:{rule.name}", f"NOT coalesce(({rule.valid_when}), false)",
                         f"{rule.description} ({decl.id} rule {rule.name}); fix: correct the record in the source system")
        )
    return rules


def _column_rules(product_id: str, col: Column, required: bool) -> list[CompiledRule]:
    c = q(col.name)
    typ = DUCKDB_TYPES[col.type]
    out = []
    if required:
        out.append(
            CompiledRule(
                f"not_null:{col.name}",
                f"{c} IS NULL OR trim(CAST({c} AS VARCHAR)) = ''",
                f"{col.name} is required in {product_id} but is empty; fix: send {col.name} on every record",
            )
        )
    if col.type != "string":
        out.append(
            CompiledRule(
                f"valid_type:{col.name}",
                f"{c} IS NOT NULL AND trim(CAST({c} AS VARCHAR)) <> '' AND TRY_CAST({c} AS {typ}) IS NULL",
                f"{col.name} is not a valid {col.type} in {product_id}; fix: send {col.name} as a {col.type}",
            )
        )
    if col.accepted_values:
        values = ", ".join(lit(v) for v in col.accepted_values)
        out.append(
            CompiledRule(
                f"accepted_values:{col.name}",
                f"{c} IS NOT NULL AND CAST({c} AS VARCHAR) NOT IN ({values})",
                f"{col.name} must be one of {list(col.accepted_values)} in {product_id}; fix: map the value in the "
                "source system, or add it to the declaration's accepted values",
            )
        )
    if col.pattern:
        out.append(
            CompiledRule(
                f"pattern:{col.name}",
                f"{c} IS NOT NULL AND NOT regexp_full_match(CAST({c} AS VARCHAR), {lit(col.pattern)})",
                f"{col.name} must match {col.pattern} in {product_id}; fix: correct the identifier in the source system",
            )
        )
    return out


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


def audit(
    con: duckdb.DuckDBPyConnection,
    decl: _Declared,
    candidate: str,
    target: str,
    run_id: str,
    *,
    drop_exact_duplicates: bool = False,
) -> AuditResult:
    """Audit relation `candidate` against `decl`; write valid typed rows to `target`
    and violations to quarantine.records. Returns counts per rule."""
    ensure_quarantine(con)
    rules = compile_rules(decl)
    cols = [c.name for c in decl.columns]
    has_file = "_source_file" in con.sql(f"SELECT * FROM {candidate} LIMIT 0").columns
    passthrough = cols + (["_source_file"] if has_file else [])
    select_cols = ", ".join(q(c) for c in passthrough)

    rows_in = con.execute(f"SELECT count(*) FROM {candidate}").fetchall()[0][0]
    base = f"SELECT {select_cols} FROM {candidate}"
    if drop_exact_duplicates:
        # A record delivered twice, even in two files (a re-sent batch), is one record.
        declared = ", ".join(q(c) for c in cols)
        first_file = ", min(_source_file) AS _source_file" if has_file else ""
        base = f"SELECT {declared}{first_file} FROM {candidate} GROUP BY ALL"
    key_count = (
        f", count(*) OVER (PARTITION BY {', '.join(q(k) for k in decl.primary_key)}) AS _mesh_key_count"
        if decl.primary_key
        else ""
    )
    checks = ", ".join(f"CASE WHEN {r.bad_when} THEN {lit(r.name)} END" for r in rules) or ""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _mesh_audit AS
        SELECT *, list_filter([{checks}]::VARCHAR[], lambda x: x IS NOT NULL) AS _mesh_violations
        FROM (SELECT *{key_count} FROM ({base}))"""
    )
    audited = con.execute("SELECT count(*) FROM _mesh_audit").fetchall()[0][0]

    typed = ", ".join(f"TRY_CAST({q(c.name)} AS {DUCKDB_TYPES[c.type]}) AS {q(c.name)}" for c in decl.columns)
    schema = target.split(".")[0]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT {typed} FROM _mesh_audit WHERE len(_mesh_violations) = 0")
    rows_valid = con.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0]

    reasons = "CASE " + " ".join(f"WHEN r = {lit(x.name)} THEN {lit(x.reason)}" for x in rules) + " END" if rules else "''"
    record = "to_json(struct_pack(" + ", ".join(f"{q(c)} := {q(c)}" for c in cols) + "))"
    # Samples go into run metadata, which erasure cannot reach: personal values stay in quarantine.
    personal = {c.name for c in decl.columns if c.classification == "pii" or column_kind(c)}
    shown = "to_json(struct_pack(" + ", ".join(
        f"{q(c)} := " + (f"CASE WHEN {q(c)} IS NULL THEN NULL ELSE {lit(REDACTED)} END" if c in personal else q(c))
        for c in cols) + "))"
    con.execute(
        f"""INSERT INTO quarantine.records
        SELECT {lit(decl.id)}, r, {reasons}, {lit(run_id)},
               {'_source_file' if has_file else 'NULL'}, rec, md5(CAST(rec AS VARCHAR)), now()
        FROM (SELECT _mesh_violations[1] AS r, {record} AS rec, * FROM _mesh_audit WHERE len(_mesh_violations) > 0) v
        WHERE NOT EXISTS (SELECT 1 FROM quarantine.records qr
                          WHERE qr.object = {lit(decl.id)} AND qr.rule = v.r
                            AND qr.record_hash = md5(CAST(v.rec AS VARCHAR)))"""
    )
    violations = dict(
        con.sql(
            "SELECT r, count(*) FROM (SELECT unnest(_mesh_violations) AS r FROM _mesh_audit) GROUP BY r ORDER BY r"
        ).fetchall()
    )
    samples: dict[str, list[str]] = {}
    for (name,) in con.sql(
        "SELECT DISTINCT _mesh_violations[1] FROM _mesh_audit WHERE len(_mesh_violations) > 0"
    ).fetchall():
        samples[name] = [
            row[0]
            for row in con.execute(
                f"SELECT CAST({shown} AS VARCHAR) FROM _mesh_audit WHERE _mesh_violations[1] = ? LIMIT {SAMPLE_ROWS}",
                [name],
            ).fetchall()
        ]
    con.execute("DROP TABLE _mesh_audit")
    return AuditResult(
        object=decl.id,
        rows_in=rows_in,
        rows_valid=rows_valid,
        exact_duplicates_dropped=rows_in - audited,
        violations={k: int(v) for k, v in violations.items()},
        samples=samples,
    )
